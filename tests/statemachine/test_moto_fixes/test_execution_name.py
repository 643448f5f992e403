"""moto correction ``execution_name``: ``start_execution`` without a name names the execution by a uuid."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto_asl import PASS_MACHINE, create, wait

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_start_execution_without_name_twice_starts_two_executions_named_by_uuid(sfn: Any) -> None:
    machine = create(sfn, PASS_MACHINE)

    first = sfn.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine, input='{"n": 2}')["executionArn"]

    assert first != second
    assert UUID.match(first.rsplit(":", 1)[1]) and UUID.match(second.rsplit(":", 1)[1])
    assert [wait(sfn, arn).output for arn in (first, second)] == [{"n": 1}, {"n": 2}]


def test_start_execution_without_name_and_fix_collides_with_the_first(sfn: Any) -> None:
    machine = create(sfn, PASS_MACHINE)
    with moto_fixes.reverted("execution_name"):
        first = sfn.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
        with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
            sfn.start_execution(stateMachineArn=machine, input='{"n": 2}')

    assert first.endswith(":None")
