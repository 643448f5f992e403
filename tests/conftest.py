"""Root test configuration; being a conftest, it puts tests/ on sys.path (`from events import load_event`)."""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUITE_IAM_REPORT = Path(__file__).resolve().parents[1] / ".sluice" / "iam-suite"

# The suite's Spark JVMs (one per xdist worker, one per `sluice` subprocess, which inherits this) run tiny
# fixtures: there HotSpot's C2 compiler threads took two thirds of a JVM's CPU (27 s of 40 s two minutes into a
# worker), competing with the other worker for this machine's two cores. C1 alone compiles what they run; what
# Spark computes does not depend on the JIT tier. Sums of test time, `make test`: 931 s -> 870 s
# (bench/results/test-suite.md). Users' runs keep the JVM's default.
os.environ.setdefault("PYSPARK_SUBMIT_ARGS", "--driver-java-options -XX:TieredStopAtLevel=1 pyspark-shell")


@pytest.fixture(scope="session", autouse=True)
def suite_iam_report() -> Iterator[None]:
    """Every emulation of the session with the template as it is adds its roles' calls to one report,
    `.sluice/iam-suite/<worker>/iam.json` (`sluice iam report .sluice/iam-suite/*`): the evidence for each grant
    of the template, from all the runs. Emulations of a changed template (tests/e2e/test_iam_removals.py) are
    left out: their denials are the point of those tests."""
    try:
        from sluice.local.emulator import Emulator
        from sluice.local.iam import report
    except ImportError:  # a checkout without the local runtime's dependencies: nothing to collect
        yield
        return
    built: list[dict[str, Any]] = []
    original = Emulator.__exit__

    def __exit__(self: Emulator, *exc: Any) -> None:
        if self.iam is not None and self.template is None and self.iam.roles():
            built.append(report.build(self.iam))
        original(self, *exc)

    Emulator.__exit__ = __exit__  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Emulator.__exit__ = original  # type: ignore[method-assign]
        if built:
            folder = SUITE_IAM_REPORT / os.environ.get("PYTEST_XDIST_WORKER", "main")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / report.REPORT_NAME).write_text(json.dumps(report.merge(built), indent=1) + "\n")
