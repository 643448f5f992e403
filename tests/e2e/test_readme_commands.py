"""The README's commands work exactly as printed: every line of its ```bash blocks is taken from the README
itself, so the docs cannot drift from the CLI again (issue 20).

- `sluice` lines without placeholders run, in README order, in a scratch folder that holds `.venv` and
  `events/` of the checkout (so relative paths resolve as they do for a user in the checkout): each exits 0,
  with nothing on stderr that looks like a warning or a traceback;
- synopsis lines (`[--json]`, `FILE`, `NAME`, ...): the command exists and takes every option named;
- `make X`: the Makefile has the target;
- `aws ... <service> <operation> --opt ...`: botocore's model of that service has the operation and every
  option as an input member (the local endpoint they run against is tests/e2e/test_up.py's subject).
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import typer.main

from sluice.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
_PLACEHOLDER = re.compile(r"\[|\||\.\.\.|<|\b[A-Z][A-Z_]{2,}\b")
_AWS_GLOBAL = {"--endpoint-url", "--region", "--output", "--cli-binary-format", "--profile"}
_S3_COMMANDS = {"cp", "ls", "mv", "rm", "sync", "mb", "rb", "presign"}
_NOISE = re.compile(r"Warning|Traceback|warnings\.warn", re.IGNORECASE)


def readme_commands(text: str) -> list[str]:
    """Every command line of the README's ```bash blocks, continuations joined, comments removed."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        pending = ""
        for line in block.splitlines():
            line = pending + line.strip()
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))
SLUICE = [c for c in COMMANDS if c.split()[0] in (".venv/bin/sluice", "sluice")]
RUNNABLE = [c for c in SLUICE if not _PLACEHOLDER.search(c)]
SYNOPSES = [c for c in SLUICE if _PLACEHOLDER.search(c)]
MAKE = [c for c in COMMANDS if c.split()[0] == "make"]
AWS = [c for c in COMMANDS if c.split()[0] == "aws"]


def test_readme_has_commands_of_each_kind() -> None:
    assert len(RUNNABLE) >= 5 and len(SYNOPSES) >= 5 and MAKE and len(AWS) >= 4
    assert not [
        c for c in COMMANDS if c.split()[0] not in (".venv/bin/sluice", "sluice", "make", "aws", "export")
    ]


def _command(words: list[str]) -> tuple[Any, list[str]]:
    """The click command a `sluice ...` line names, and the words after the command path. (Typer may bring
    its own click: groups are told by their `commands`, not by isinstance.)"""
    command: Any = typer.main.get_command(app)
    rest = words[1:]
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command = command.commands[rest[0]]
        rest = rest[1:]
    return command, rest


@pytest.mark.parametrize("line", SYNOPSES)
def test_readme_synopsis_names_real_command_and_options(line: str) -> None:
    command, rest = _command(line.split())
    assert not hasattr(command, "commands"), f"{line}: no such command"
    options = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    named = {m for m in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", " ".join(rest))}
    assert named <= options, f"{line}: {sorted(named - options)} are not options of {command.name}"


@pytest.mark.parametrize("line", MAKE)
def test_readme_make_target_exists(line: str) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in line.split()[1:]:
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.MULTILINE), (
            f"{line}: no target {target}"
        )


@pytest.mark.parametrize("line", AWS)
def test_readme_aws_command_matches_the_service_model(line: str) -> None:
    words = [w for w in shlex.split(line) if w]
    args: list[str] = []
    skip = False
    for word in words[1:]:  # drop global options and their values
        if skip:
            skip = False
        elif word in _AWS_GLOBAL:
            skip = True
        else:
            args.append(word)
    service, operation, *options = args
    if service == "s3":
        assert operation in _S3_COMMANDS, line
        return
    model = botocore.session.get_session().get_service_model(service)
    by_cli = {botocore.xform_name(name).replace("_", "-"): name for name in model.operation_names}
    assert operation in by_cli, f"{line}: {service} has no operation {operation}"
    members = model.operation_model(by_cli[operation]).input_shape.members
    cli_members = {"--" + botocore.xform_name(name).replace("_", "-") for name in members}
    named = {word for word in options if word.startswith("--")}
    assert named <= cli_members, f"{line}: {sorted(named - cli_members)} are not inputs of {operation}"


@pytest.mark.spark
@pytest.mark.emulator
def test_readme_sluice_commands_run_as_printed(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "events").symlink_to(ROOT / "events")
    for line in RUNNABLE:
        result = subprocess.run(
            shlex.split(line), cwd=tmp_path, capture_output=True, text=True, timeout=900, env=None
        )
        assert result.returncode == 0, f"{line}\n{result.stderr[-3000:]}"
        noise = [text for text in result.stderr.splitlines() if _NOISE.search(text)]
        assert not noise, f"{line}: {noise}"
