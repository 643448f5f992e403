"""The moto corrections as a set: every module of the package is registered, applied and backed by a
regression test that its docstring names; apply(), revert() and reverted() install and remove them."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

REPO = Path(__file__).resolve().parents[3]
# `tests/<path>.py::test_name` in a correction module's docstring.
TEST_REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(test_\w+)")
# a row of docs/emulation.md's table: [`name`](../src/sluice/local/moto_fixes/name.py)
DOCS_ROW = re.compile(r"\[`(\w+)`\]\(\.\./src/sluice/local/moto_fixes/(\w+)\.py\)")


def _correction_modules() -> list[str]:
    """The package's correction modules: every module but the private ones (``_patch``)."""
    return sorted(
        info.name for info in pkgutil.iter_modules(moto_fixes.__path__) if not info.name.startswith("_")
    )


def test_every_correction_module_is_registered_and_applied() -> None:
    moto_fixes.apply()

    assert len(_correction_modules()) >= 12  # the package is found: the comparisons below are not vacuous
    assert sorted(moto_fixes.FIXES) == _correction_modules()
    assert sorted(moto_fixes.applied()) == _correction_modules()


@pytest.mark.parametrize("name", _correction_modules())
def test_correction_docstring_names_existing_regression_tests_one_of_them_reverting_it(name: str) -> None:
    module = importlib.import_module(f"sluice.local.moto_fixes.{name}")
    references = TEST_REFERENCE.findall(module.__doc__ or "")
    assert references, f"{name}: its docstring names no regression test (tests/...py::test_...)"

    reverting = []
    for path, test in references:
        source = (REPO / path).read_text()
        functions = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
        assert test in functions, f"{name}: {path}::{test} does not exist"
        if f'moto_fixes.reverted("{name}")' in (ast.get_source_segment(source, functions[test]) or ""):
            reverting.append(test)
    assert reverting, (
        f"{name}: none of its regression tests shows the defect under moto_fixes.reverted({name!r})"
    )


def test_docs_emulation_lists_every_correction_module() -> None:
    rows = DOCS_ROW.findall((REPO / "docs" / "emulation.md").read_text())

    assert all(name == file for name, file in rows), rows
    assert sorted(name for name, _ in rows) == _correction_modules()


def test_apply_is_idempotent_and_reverted_restores_one_fix() -> None:
    moto_fixes.apply()
    patched = StateTaskServiceCallback.__dict__["_eval_integration_pattern"]
    moto_fixes.apply()
    assert StateTaskServiceCallback.__dict__["_eval_integration_pattern"] is patched
    assert sorted(moto_fixes.applied()) == sorted(moto_fixes.FIXES)

    with moto_fixes.reverted("glue_sync"):
        original = StateTaskServiceCallback.__dict__["_eval_integration_pattern"]
        assert original is not patched
        assert "glue_sync" not in moto_fixes.applied()

    assert "glue_sync" in moto_fixes.applied()
    assert StateTaskServiceCallback.__dict__["_eval_integration_pattern"] is not original
    try:
        moto_fixes.revert()
        assert moto_fixes.applied() == []
        assert StateTaskServiceCallback.__dict__["_eval_integration_pattern"] is original
    finally:
        moto_fixes.apply()
