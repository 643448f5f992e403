"""A second ``start_execution`` without a name returns the first execution or fails; AWS names it a uuid.

moto: the parser backend overrides ``StepFunctionsParserBackend.start_execution`` and uses ``name`` as
given, so every unnamed execution is called ``None`` (ARN ``...:execution:<machine>:None``): the
name-idempotency check then hands back the first execution (same input) or refuses the second one with
``ExecutionAlreadyExists`` (other input).
AWS: an execution started without a name is named with a new uuid.
Fix: default the name to a uuid4.

Regression tests:
``tests/statemachine/test_moto_fixes/test_execution_name.py::test_start_execution_without_name_twice_starts_two_executions_named_by_uuid``,
``tests/statemachine/test_moto_fixes/test_execution_name.py::test_start_execution_without_name_and_fix_collides_with_the_first``.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from sluice.local.moto_fixes._patch import Patch


def patches() -> list[Patch]:
    """Default the execution name to a uuid4."""
    start = StepFunctionsParserBackend.start_execution

    @functools.wraps(start)
    def start_execution(
        self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return start(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return [Patch(StepFunctionsParserBackend, "start_execution", start_execution)]
