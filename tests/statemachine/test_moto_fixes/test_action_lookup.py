"""moto correction ``action_lookup``: a request tests its one action name against its response class instead
of listing every function of the class."""

from __future__ import annotations

import importlib
import inspect
import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.responses import BaseResponse
from moto.core.utils import method_names_from_class
from moto.dynamodb.responses import DynamoHandler

from sluice.local import moto_fixes
from sluice.local.moto_fixes.action_lookup import ActionNames

pytestmark = pytest.mark.emulator

# The services the emulated stack uses (their response modules define the classes checked below).
SERVICES = (
    "awslambda", "cloudformation", "dynamodb", "events", "glue", "iam", "kms", "logs", "s3", "sns", "sqs",
    "stepfunctions", "sts",
)  # fmt: skip


def _response_classes() -> list[type]:
    for service in SERVICES:
        importlib.import_module(f"moto.{service}.responses")
    found: list[type] = []
    pending = [BaseResponse]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_response_class_finds_exactly_the_actions_moto_lists() -> None:
    classes = _response_classes()
    assert len(classes) > len(SERVICES)  # the services' handlers were found: the comparison is not vacuous

    for cls in classes:
        listed = set(method_names_from_class(cls))
        names = set(dir(cls)) | {"no_such_action", "", "__init__", "dispatch"}
        found = {name for name in names if name in ActionNames(cls)}
        assert found == listed, cls


def test_an_action_moto_lacks_is_still_not_implemented() -> None:
    moto_fixes.apply()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        assert dynamodb.list_tables()["TableNames"] == ["t"]
        with pytest.raises(NotImplementedError, match="describe_contributor_insights action has not been"):
            dynamodb.describe_contributor_insights(TableName="t")


def _function_listings(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The classes inspect.getmembers(..., isfunction) is asked to list from now on, in this thread (the
    mock serves a request in the thread that makes it; other threads of the test process are not counted)."""
    listed: list[Any] = []
    getmembers = inspect.getmembers
    this_thread = threading.get_ident()

    def counting(obj: Any, predicate: Any = None) -> Any:
        if predicate is inspect.isfunction and threading.get_ident() == this_thread:
            listed.append(obj)
        return getmembers(obj, predicate)

    monkeypatch.setattr(inspect, "getmembers", counting)
    return listed


def test_without_the_fix_call_action_lists_every_function(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_fixes.apply()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        listed = _function_listings(monkeypatch)
        dynamodb.list_tables()
        with moto_fixes.reverted("action_lookup"):
            dynamodb.list_tables()

    assert listed == [DynamoHandler]  # only the request made without the fix listed the handler's functions
