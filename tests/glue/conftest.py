"""Glue job tests: one local SparkSession for the whole run (starting Spark costs ~5 s), tiny data."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pyspark.sql import SparkSession

from sluice_lib.contracts import load_contract_file

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"


def _load_transform() -> ModuleType:
    """glue/transform.py is a script, not a package module; load it once under the name `transform`. Its
    package, glue/sluice_transform, is on the path (pyproject's pytest pythonpath), as its zip is on Glue's."""
    if "transform" in sys.modules:
        return sys.modules["transform"]
    spec = importlib.util.spec_from_file_location("transform", ROOT / "glue" / "transform.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["transform"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def transform() -> ModuleType:
    return _load_transform()


@pytest.fixture(scope="session")
def spark(transform: ModuleType) -> Iterator[SparkSession]:
    os.environ.setdefault("SLUICE_SPARK_MASTER", "local[1]")
    session = transform.get_or_create_spark()
    yield session
    session.stop()


@pytest.fixture(scope="session")
def offers_contract_json() -> str:
    return load_contract_file(CONTRACTS / "offers.yaml").to_json()
