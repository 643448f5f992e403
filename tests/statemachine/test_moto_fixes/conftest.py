"""Fixtures of the moto corrections' regression tests: moto with every correction applied, sleeps scaled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto_asl import CONFIG, REGION

from sluice.local import moto_fixes


@pytest.fixture
def aws() -> Iterator[None]:
    moto_fixes.apply()
    previous = moto_fixes.time_scale()
    moto_fixes.set_time_scale(0.001)
    try:
        with mock_aws(config=CONFIG):
            yield
    finally:
        moto_fixes.set_time_scale(previous)


@pytest.fixture
def sfn(aws: None) -> Any:
    return boto3.client("stepfunctions", region_name=REGION)


@pytest.fixture
def glue(aws: None) -> Any:
    return boto3.client("glue", region_name=REGION)


@pytest.fixture
def s3(aws: None) -> Any:
    return boto3.client("s3", region_name=REGION)
