"""A ``States.*`` error from a Parallel branch, a Map iteration or a Fail state skips the Catch.

moto: the branch / iteration error is re-raised by the parent as ``CustomErrorName(error)``, whose
constructor rejects names starting with ``States.`` (ValueError -> ``States.Runtime``, which the intended
Catch does not match and which kills the execution). A Fail state with ``"Error": "States.TaskFailed"``
(or an ``ErrorPath`` resolving to a caught ``States.*`` error) trips the same check. The three places are
``branches_decl``, ``iteration_worker`` and ``state_fail``.
AWS: the error keeps its name (``States.TaskFailed``) and reaches the parent's Retry and Catch.
Fix: in those three modules, the name ``CustomErrorName`` builds a ``StatesErrorName`` for ``States.*``
names (so ``States.TaskFailed``, ``States.ALL`` and the original name match in ErrorEquals) and a
``CustomErrorName`` otherwise.

Regression tests:
``tests/statemachine/test_moto_fixes/test_states_error_names.py::test_states_error_in_parallel_branch_or_map_iteration_reaches_catch_with_its_name``,
``tests/statemachine/test_moto_fixes/test_states_error_names.py::test_states_error_in_parallel_branch_without_fix_becomes_uncaught_runtime_error``.
"""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.fail import state_fail

from sluice.local.moto_fixes._patch import Patch


def _error_name(error_name: str | None) -> Any:
    """The ErrorName for a name reported at runtime: a ``StatesErrorName`` for ``States.*``, else custom."""
    if error_name is None or not error_name.startswith("States."):
        return CustomErrorName(error_name)
    try:
        return StatesErrorName(typ=StatesErrorNameType.from_name(error_name))
    except ValueError:  # a States.* name the grammar does not know: keep it, unchecked
        unchecked = CustomErrorName.__new__(CustomErrorName)
        ErrorName.__init__(unchecked, error_name=error_name)
        return unchecked


def patches() -> list[Patch]:
    """``CustomErrorName`` keeps ``States.*`` names in branches, iterations and Fail states."""
    return [
        Patch(module, "CustomErrorName", _error_name)
        for module in (branches_decl, iteration_worker, state_fail)
    ]
