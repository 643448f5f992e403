"""Root test configuration; being a conftest, it puts tests/ on sys.path (`from events import load_event`)."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUITE_IAM_REPORT = Path(__file__).resolve().parents[1] / ".sluice" / "iam-suite"


@pytest.fixture(scope="session", autouse=True)
def suite_iam_report() -> Iterator[None]:
    """Every emulation of the session adds its roles' calls to one report, `.sluice/iam-suite/<worker>/iam.json`
    (`sluice iam report .sluice/iam-suite/*`): the evidence for each grant of the template, from all the runs."""
    try:
        from sluice.local.iam import report
        from sluice.local.iam.enforce import Enforcer
    except ImportError:  # a checkout without the local runtime's dependencies: nothing to collect
        yield
        return
    built: list[dict[str, Any]] = []
    original = Enforcer.uninstall

    def uninstall(self: Enforcer) -> None:
        if self.roles():
            built.append(report.build(self))
        original(self)

    Enforcer.uninstall = uninstall  # type: ignore[method-assign]
    try:
        yield
    finally:
        Enforcer.uninstall = original  # type: ignore[method-assign]
        if built:
            folder = SUITE_IAM_REPORT / os.environ.get("PYTEST_XDIST_WORKER", "main")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / report.REPORT_NAME).write_text(json.dumps(report.merge(built), indent=1) + "\n")
