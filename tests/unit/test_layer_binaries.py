"""The Lambda layers as `sam build` builds them: every compiled file is for the functions' runtime.

The layers are built here with the Makefile targets `sam build` calls (pip for the target platform, no Docker),
then each ELF file is read: its machine must be the template's architecture, the glibc and libstdc++ symbol
versions it asks for must exist on Amazon Linux 2023 (which python3.13 runs on), and a CPython extension must be
built for the template's Python. A wheel for the wrong platform would fail here instead of at INIT on AWS.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.sam.yaml").read_text(encoding="utf-8"))

ELF_MACHINES = {62: "x86_64", 183: "arm64"}  # e_machine of EM_X86_64 and EM_AARCH64
# Amazon Linux 2023 (Lambda python3.13): glibc 2.34, libstdc++ of GCC 11 (GLIBCXX_3.4.29, CXXABI_1.3.13).
AL2023_GLIBC = (2, 34)
AL2023_GLIBCXX = 29
AL2023_CXXABI = 13
EXTENSION = re.compile(r"\.(cpython-(?P<py>\d+)-(?P<arch>[a-z0-9_]+)-linux-gnu|abi3)\.so$")


def _layers() -> dict[str, dict]:
    return {
        name: resource
        for name, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    }


def _runtime() -> tuple[str, str]:
    function = TEMPLATE["Globals"]["Function"]
    (architecture,) = function["Architectures"]
    return function["Runtime"], architecture


def _elf_machine(data: bytes) -> str | None:
    if data[:4] != b"\x7fELF":
        return None
    byteorder = "little" if data[5] == 1 else "big"
    return ELF_MACHINES.get(int.from_bytes(data[18:20], byteorder), f"e_machine {data[18:20].hex()}")


def inspect_binary(path: Path, python: str, architecture: str) -> list[str]:
    """What in one compiled file would not load on the runtime (empty: nothing)."""
    data = path.read_bytes()
    machine = _elf_machine(data)
    if machine is None:
        return []
    problems = []
    if machine != architecture:
        problems.append(f"built for {machine}, the functions run on {architecture}")
    glibc = {tuple(map(int, v.split(b"."))) for v in re.findall(rb"GLIBC_(2\.\d+)(?![\d.])", data)}
    if glibc and max(glibc) > AL2023_GLIBC:
        problems.append(f"needs GLIBC_{'.'.join(map(str, max(glibc)))} (Amazon Linux 2023 has 2.34)")
    glibcxx = {int(v) for v in re.findall(rb"GLIBCXX_3\.4\.(\d+)", data)}
    if glibcxx and max(glibcxx) > AL2023_GLIBCXX:
        problems.append(f"needs GLIBCXX_3.4.{max(glibcxx)} (Amazon Linux 2023 has 3.4.29)")
    cxxabi = {int(v) for v in re.findall(rb"CXXABI_1\.3\.(\d+)", data)}
    if cxxabi and max(cxxabi) > AL2023_CXXABI:
        problems.append(f"needs CXXABI_1.3.{max(cxxabi)} (Amazon Linux 2023 has 1.3.13)")
    tag = EXTENSION.search(path.name)
    if tag and tag.group("py") and tag.group("py") != python.removeprefix("python").replace(".", ""):
        problems.append(f"a CPython {tag.group('py')} extension, the functions run {python}")
    if (
        tag
        and tag.group("arch")
        and tag.group("arch") != {"arm64": "aarch64"}.get(architecture, architecture)
    ):
        problems.append(f"an extension tagged {tag.group('arch')}")
    return problems


@pytest.fixture(scope="module")
def built_layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each layer of the template, built by the Makefile target `sam build` runs for it."""
    out = tmp_path_factory.mktemp("layers")
    built = {}
    for name in _layers():
        artifacts = out / name
        artifacts.mkdir()
        subprocess.run(
            [
                "make",
                "--no-print-directory",
                f"build-{name}",
                f"ARTIFACTS_DIR={artifacts}",
                f"PYTHON={sys.executable}",
            ],
            cwd=ROOT,
            check=True,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        built[name] = artifacts
    return built


def test_template_layers_are_built_for_the_functions_runtime_and_architecture():
    runtime, architecture = _runtime()
    assert (runtime, architecture) == ("python3.13", "arm64")
    for name, layer in _layers().items():
        assert layer["Properties"]["CompatibleRuntimes"] == [runtime], name
        assert layer["Properties"]["CompatibleArchitectures"] == [architecture], name
        assert layer["Metadata"]["BuildArchitecture"] == architecture, name


def test_built_layers_hold_only_binaries_that_load_on_the_functions_runtime(built_layers: dict[str, Path]):
    runtime, architecture = _runtime()
    seen = 0
    problems = {}
    for name, folder in built_layers.items():
        for path in folder.rglob("*"):
            if path.is_file() and (path.suffix == ".so" or ".so." in path.name):
                seen += 1
                if found := inspect_binary(path, runtime, architecture):
                    problems[f"{name}: {path.relative_to(folder)}"] = found
            assert path.suffix != ".pyc", f"{path}: byte code compiled by the build machine's Python"
    assert problems == {}
    # pydantic-core, PyYAML and wrapt in the shared layer, DuckDB in the engine layer
    assert seen >= 4
    assert (built_layers["TransformEngineLayer"] / "python" / "_duckdb.abi3.so").is_file()
    assert list((built_layers["SharedLayer"] / "python" / "pydantic_core").glob("*.so"))


def _elf(machine: int, symbols: bytes = b"") -> bytes:
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"  # 64-bit, little-endian
    header[18:20] = machine.to_bytes(2, "little")
    return bytes(header) + symbols


def test_binary_check_refuses_an_x86_64_extension_for_another_python(tmp_path: Path):
    extension = tmp_path / "_core.cpython-311-x86_64-linux-gnu.so"
    extension.write_bytes(_elf(62, b"\0GLIBC_2.17\0"))
    assert inspect_binary(extension, "python3.13", "arm64") == [
        "built for x86_64, the functions run on arm64",
        "a CPython 311 extension, the functions run python3.13",
        "an extension tagged x86_64",
    ]


def test_binary_check_refuses_a_newer_glibc_than_amazon_linux_2023(tmp_path: Path):
    library = tmp_path / "libfuture.so"
    library.write_bytes(_elf(183, b"\0GLIBC_2.17\0GLIBC_2.38\0GLIBCXX_3.4.32\0"))
    assert inspect_binary(library, "python3.13", "arm64") == [
        "needs GLIBC_2.38 (Amazon Linux 2023 has 2.34)",
        "needs GLIBCXX_3.4.32 (Amazon Linux 2023 has 3.4.29)",
    ]


def test_binary_check_accepts_an_arm64_extension_for_python313(tmp_path: Path):
    extension = tmp_path / "_core.cpython-313-aarch64-linux-gnu.so"
    extension.write_bytes(_elf(183, b"\0GLIBC_2.17\0GLIBC_2.34\0GLIBCXX_3.4.29\0CXXABI_1.3.13\0"))
    assert inspect_binary(extension, "python3.13", "arm64") == []
