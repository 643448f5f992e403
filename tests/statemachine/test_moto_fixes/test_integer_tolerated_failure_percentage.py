"""moto correction ``integer_tolerated_failure_percentage``: ``"ToleratedFailurePercentage": 10`` is a valid
definition."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto_asl import ROLE_ARN, create, distributed_map

from sluice.local import moto_fixes

pytestmark = pytest.mark.emulator


def test_integer_tolerated_failure_percentage_is_accepted_and_stored_as_written(sfn: Any) -> None:
    definition = json.dumps(distributed_map(ToleratedFailurePercentage=10))

    machine = sfn.create_state_machine(name="machine", definition=definition, roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]

    assert sfn.describe_state_machine(stateMachineArn=machine)["definition"] == definition


def test_integer_tolerated_failure_percentage_without_fix_is_an_invalid_definition(sfn: Any) -> None:
    with (
        moto_fixes.reverted("integer_tolerated_failure_percentage"),
        pytest.raises(
            ClientError, match=r"ASLParserException .* at input '\"ToleratedFailurePercentage\":10'"
        ),
    ):
        create(sfn, distributed_map(ToleratedFailurePercentage=10))
