"""The offers generator: row counts, deliberate bad rows, determinism, good rows that pass the contract."""

from __future__ import annotations

import csv
import gzip
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from validate_world import OFFERS_HEADER, ValidateWorld

from sluice.generate import GENERATORS, generate_offers
from sluice_lib.contracts import ContractStore

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def records(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.name.endswith(".gz") else raw).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_generate_offers_writes_header_and_rows_in_the_documented_shapes(tmp_path: Path) -> None:
    out = tmp_path / "offers.csv"

    bad = generate_offers(out, 2_000, 0.0, seed=1, now=NOW)

    header, *rows = records(out)
    assert bad == 0
    assert ",".join(header) == OFFERS_HEADER
    assert len(rows) == 2_000
    assert len({r[0] for r in rows}) <= 20
    for account, offer_id, catalog_id, type_code, offer_type, created, expire, risk in rows:
        assert re.fullmatch(r"[0-9]{8}", account)
        assert re.fullmatch(r"[0-9]{12}", offer_id)
        assert re.fullmatch(r"[0-9]{18}", catalog_id)
        assert re.fullmatch(r"[A-Z]{2}", type_code)
        assert re.fullmatch(r"[0-9]{8}", offer_type)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", created)
        made, ends = datetime.fromisoformat(created), datetime.fromisoformat(expire)
        assert NOW - timedelta(days=365) <= made < NOW
        assert timedelta(days=7) <= ends - made <= timedelta(days=365)
        assert risk in ("low", "medium", "high")


def test_generate_offers_pool_of_accounts_is_configurable(tmp_path: Path) -> None:
    out = tmp_path / "offers.csv"

    generate_offers(out, 500, 0.0, seed=3, accounts=3, now=NOW)

    assert len({r[0] for r in records(out)[1:]}) == 3


def test_generate_offers_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first, again, other = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz", tmp_path / "c.csv.gz"

    bad_first = generate_offers(first, 3_000, 0.1, seed=7, now=NOW)
    bad_again = generate_offers(again, 3_000, 0.1, seed=7, now=NOW)
    generate_offers(other, 3_000, 0.1, seed=8, now=NOW)

    assert first.read_bytes() == again.read_bytes()
    assert bad_first == bad_again
    assert first.read_bytes() != other.read_bytes()


def test_generate_offers_reports_progress_per_chunk(tmp_path: Path) -> None:
    seen: list[int] = []

    generate_offers(tmp_path / "offers.csv", 25_000, 0.0, seed=1, progress=seen.append, now=NOW)

    assert seen == [10_000, 20_000, 25_000]


def test_generate_offers_good_rows_all_pass_the_offers_contract(world: ValidateWorld, tmp_path: Path) -> None:
    out = tmp_path / "offers.csv.gz"
    generate_offers(out, 3_000, 0.0, seed=11)

    result = world.validate(world.put(out.name, out.read_bytes()))

    assert result.counts.rows_in == 3_000
    assert result.counts.rows_rejected == 0


def test_generate_offers_every_bad_row_is_rejected_and_no_good_one(
    world: ValidateWorld, lenient: ContractStore, tmp_path: Path
) -> None:
    out = tmp_path / "offers.csv"

    bad = generate_offers(out, 3_000, 0.2, seed=5)

    result = world.validate(world.put(out.name, out.read_bytes()), lenient)
    assert 450 < bad < 750
    assert result.counts.rows_rejected == bad
    assert result.counts.rows_valid == 3_000 - bad
    reasons = " ".join(r["reasons"] for r in world.quarantine(result))
    for kind in (
        "account: a value is required",
        "offer_id: '",
        "created: not an ISO-8601 datetime: 'yesterday'",
        "risk: 'extreme' is not one of low, medium, high",
        "row has 7 values where the header has 8 columns",
        "account_type_code: '",
        "expire: a value is required",
    ):
        assert kind in reasons


def test_generate_registry_names_the_offers_generator() -> None:
    assert GENERATORS["offers"] is generate_offers
