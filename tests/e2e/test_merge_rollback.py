"""`sluice rollback` end to end: three offers uploads with overlapping keys merged through the emulated stack (the
Lambda engine), the stack served on a local endpoint as `sluice up` serves it, the real command run against it
(a dry run, a refused run id, the rollback to the first upload), then a fourth upload merged against the
rolled-back table; the table as the catalog presents it is compared with a dict by key of the files each time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from catalog_view import catalog_files
from endpoint_env import client_env
from test_merge_offers import FIRST, SECOND, THIRD, model, normalised, served, table, write

from sluice.local.emulator import Emulator
from sluice.local.runner import RunInput, Runner
from sluice.local.server import LocalEndpoint
from sluice_lib.lease import lease_key, read_generation

pytestmark = [pytest.mark.emulator]

ROOT = Path(__file__).resolve().parents[2]
# After the rollback to FIRST: offer 12 corrected again (updated), offer 25 (SECOND's, rolled away) new again.
FOURTH = [(12, "2026-03-11T00:00:00+00:00", "medium"), (25, "2026-03-06T00:00:00+00:00", "high")]


def sluice(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The `sluice` command in a process of its own, against the endpoint, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", "rollback", *args, "--endpoint-url", endpoint],
        env=client_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_rollback_command_restores_the_first_upload_and_a_later_upload_merges_against_it(tmp_path: Path):
    with Emulator(log_file=tmp_path / "lambda.log") as emu:
        runner = Runner(emu, progress=lambda _: None)
        results = [
            runner.run([RunInput("offers", write(tmp_path, f"offers-{n}.csv", rows))])[0]
            for n, rows in enumerate((FIRST, SECOND, THIRD), start=1)
        ]
        assert [(r.status, r.engine) for r in results] == [("SUCCEEDED", "lambda")] * 3
        assert table(emu) == normalised(model(FIRST, SECOND, THIRD))
        assert set(catalog_files(emu, "offers")) == {"year=2026/month=3", "year=2026/month=4"}
        first = results[0].run_id
        generation = read_generation(emu.client("dynamodb"), emu.stack.runs_table, "offers")

        endpoint = LocalEndpoint(0, request_log=tmp_path / "requests.log")
        endpoint.serve()
        try:
            dry = sluice(endpoint.url, "--dataset", "offers", "--to-run", first, "--dry-run")
            unknown = sluice(endpoint.url, "--dataset", "offers", "--to-run", "no-such-run")
            assert table(emu) == normalised(model(FIRST, SECOND, THIRD))  # neither changed anything
            done = sluice(endpoint.url, "--dataset", "offers", "--to-run", first)
        finally:
            endpoint.stop()

        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.splitlines()[0].startswith("year=2026/month=3: s3://")
        assert dry.stdout.splitlines()[2].startswith(
            f"dry run: rolling back offers to the state after run {first}"
        )
        assert dry.stdout.splitlines()[2].endswith(
            "would change 2 partitions (1 switched, 1 dropped); nothing was changed"
        )
        assert unknown.returncode == 1
        assert "RunNotFoundError" in unknown.stderr and "has no run no-such-run" in unknown.stderr
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("year=2026/month=3: s3://")
        assert lines[1].startswith("year=2026/month=4: s3://")
        assert lines[1].endswith(" -> (none)  (dropped: it did not exist after the run)")
        assert lines[2].startswith(f"rolled back offers to the state after run {first} (loaded ")
        assert "2 partitions (1 switched, 1 dropped)" in lines[2]
        # The serving table is put back too: FIRST's 20 offers written again, the 11 only later uploads had deleted.
        assert lines[2].endswith("serving items: 20 written, 11 deleted")
        assert served(emu) == {k: r for k, (_, r) in model(FIRST).items()}

        assert table(emu) == normalised(model(FIRST))
        assert set(catalog_files(emu, "offers")) == {"year=2026/month=3"}  # April came with later uploads
        dynamodb = emu.client("dynamodb")
        assert read_generation(dynamodb, emu.stack.runs_table, "offers") == generation + 1
        assert dynamodb.get_item(TableName=emu.stack.runs_table, Key=lease_key("offers")).get("Item") is None

        (fourth,) = runner.run([RunInput("offers", write(tmp_path, "offers-4.csv", FOURTH))])

        assert fourth.status == "SUCCEEDED"
        assert fourth.merge() == {
            "inserted": 1,
            "updated": 1,
            "unchanged": 0,
        }  # 25 is new to the rolled-back table
        assert table(emu) == normalised(model(FIRST, FOURTH))
        assert served(emu) == {k: r for k, (_, r) in model(FIRST, FOURTH).items()}
        assert set(catalog_files(emu, "offers")) == {"year=2026/month=3"}
