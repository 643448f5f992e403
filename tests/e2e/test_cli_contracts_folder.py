"""`--contracts DIR` and $SLUICE_CONTRACTS on the commands that read contracts; unknown datasets are usage
errors found before anything is provisioned (issue 20, item 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from offers_rows import OFFERS_HEADER, offers_row

ROOT = Path(__file__).resolve().parents[2]


def sluice(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SLUICE_CONTRACTS"}
    return subprocess.run(
        [sys.executable, "-m", "sluice.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**environ, "COLUMNS": "200", **(env or {})},
    )


def own_contracts(folder: Path) -> Path:
    """A user's folder with one contract of their own: the offers rules under the name `deals`."""
    folder.mkdir()
    text = (ROOT / "contracts" / "offers.yaml").read_text(encoding="utf-8")
    (folder / "deals.yaml").write_text(text.replace("dataset: offers", "dataset: deals", 1), encoding="utf-8")
    return folder


def offers_file(path: Path) -> Path:
    path.write_text("\n".join([OFFERS_HEADER, offers_row(1), offers_row(2)]) + "\n", encoding="utf-8")
    return path


def test_run_misspelt_dataset_is_a_usage_error_listing_known_ones_before_provisioning(tmp_path: Path) -> None:
    src = offers_file(tmp_path / "a.csv")
    result = sluice("run", str(src), "--dataset", "ofers", "--out", str(tmp_path / "out"), cwd=ROOT)
    assert result.returncode == 2
    assert "no contract for dataset 'ofers'" in result.stderr
    assert "known datasets: offers, orders, signups, songs, streams, tickets, users" in result.stderr
    assert "provisioned" not in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_run_dataset_file_argument_of_unknown_dataset_is_a_usage_error(tmp_path: Path) -> None:
    src = offers_file(tmp_path / "a.csv")
    result = sluice("run", f"offers={src}", f"deals={src}", cwd=ROOT)
    assert result.returncode == 2
    assert "no contract for dataset 'deals'" in result.stderr


def test_run_contracts_folder_missing_is_a_usage_error(tmp_path: Path) -> None:
    src = offers_file(tmp_path / "a.csv")
    result = sluice("run", str(src), "-d", "offers", "--contracts", str(tmp_path / "nope"), cwd=ROOT)
    assert result.returncode == 2
    assert f"{tmp_path / 'nope'} (--contracts): no such folder" in result.stderr


def test_run_broken_contract_is_a_usage_error_with_its_problem(tmp_path: Path) -> None:
    folder = own_contracts(tmp_path / "mine")
    (folder / "deals.yaml").write_text(
        "dataset: deals\nschema:\n  fields:\n    - {name: id, type: integr}\n", encoding="utf-8"
    )
    src = offers_file(tmp_path / "a.csv")
    result = sluice("run", str(src), "-d", "deals", "--contracts", str(folder), cwd=ROOT)
    assert result.returncode == 2
    assert "1 contract problem (sluice contracts check)" in result.stderr
    assert "deals.yaml: schema.fields[0]" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.emulator
def test_run_with_own_contracts_folder_validates_against_it(tmp_path: Path) -> None:
    folder = own_contracts(tmp_path / "mine")
    src = offers_file(tmp_path / "deals.csv")
    out = tmp_path / "out"
    result = sluice(
        "run", str(src), "-d", "deals", "--contracts", str(folder), "--json", "--out", str(out), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    (execution,) = json.loads(result.stdout)["executions"]
    assert execution["dataset"] == "deals"
    assert execution["source_key"] == "incoming/deals/deals.csv"
    assert execution["rows"]["curated"] == 2
    assert len(list((out / "curated" / "deals").rglob("*.parquet"))) == 1


def test_cost_reads_the_folder_from_the_environment_variable(tmp_path: Path) -> None:
    folder = own_contracts(tmp_path / "mine")
    result = sluice(
        "cost", "--bytes", "1MB", "-d", "deals", "--json", cwd=ROOT, env={"SLUICE_CONTRACTS": str(folder)}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dataset"] == "deals"
    unknown = sluice(
        "cost", "--bytes", "1MB", "-d", "offers", cwd=ROOT, env={"SLUICE_CONTRACTS": str(folder)}
    )
    assert unknown.returncode == 2
    assert f"no contract for dataset 'offers' in {folder} ($SLUICE_CONTRACTS); known datasets: deals" in (
        unknown.stderr
    )


def test_contracts_check_takes_the_option(tmp_path: Path) -> None:
    folder = own_contracts(tmp_path / "mine")
    result = sluice("contracts", "check", "--contracts", str(folder), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 contracts OK: deals" not in result.stderr  # plural agrees
    assert "1 contract OK: deals" in result.stderr


@pytest.mark.parametrize(
    "command", [["up", "--port", "0"], ["invoke", "ValidateFunction"]], ids=["up", "invoke"]
)
def test_up_and_invoke_refuse_a_missing_contracts_folder_before_provisioning(
    command: list[str], tmp_path: Path
) -> None:
    result = sluice(*command, "--contracts", str(tmp_path / "nope"), cwd=ROOT)
    assert result.returncode == 2
    assert "(--contracts): no such folder" in result.stderr
    assert "provisioning" not in result.stdout + result.stderr
