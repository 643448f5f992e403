"""scripts/find-python: the interpreter every part of sluice runs on, found without the user's help."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "find-python"


def test_find_python_prints_an_interpreter_of_the_wanted_minor():
    found = subprocess.run([SCRIPT, "3.13"], capture_output=True, text=True, check=True).stdout.strip()

    version = subprocess.run(
        [found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert version == "(3, 13)"


def test_find_python_without_the_version_exits_1_saying_what_to_install(tmp_path: Path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "pyenv")}

    result = subprocess.run([SCRIPT, "3.99"], capture_output=True, text=True, env=env)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "sluice runs on Python 3.99 everywhere" in result.stderr
    assert "pyenv install 3.99" in result.stderr
    assert "make PYTHON=/path/to/python3.99" in result.stderr
