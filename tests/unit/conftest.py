"""Fixtures of the unit tests (the root tests/conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from steps_aws import emulated_aws
from validate_world import ValidateWorld

from sluice_lib.contracts import ContractStore


@pytest.fixture
def world() -> Iterator[ValidateWorld]:
    """Emulated raw and lake buckets, bad-records queue, runs table and Glue database, for Validate."""
    with emulated_aws() as aws:
        yield ValidateWorld(aws)


@pytest.fixture
def lenient(world: ValidateWorld, tmp_path: Path) -> ContractStore:
    """The repository's contracts with every reject threshold at 100%, to look at bad rows in bulk."""
    folder = tmp_path / "lenient-contracts"
    folder.mkdir()
    for contract in world.settings.contracts_dir.glob("*.yaml"):
        text = re.sub(
            r"max_reject_ratio: [0-9.]+", "max_reject_ratio: 1.0", contract.read_text(encoding="utf-8")
        )
        (folder / contract.name).write_text(text, encoding="utf-8")
    return ContractStore(folder)
