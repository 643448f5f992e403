"""What each quality rule costs Validate: CPU seconds per rule on 1,000,000 staged offers rows, read from the
local staging Parquet as Validate reads it (only the rule's columns), against the CPU Validate spends on the
rows themselves (bench/results/validate.md).

The rows: offers as Validate stages them (8 typed columns; 20 accounts, unique offer ids, a year of `created`)
plus a numeric column for the statistics. The `references` rule's keys (100,000 account-like strings) are given
in memory (the file's 20 accounts among 100,020 keys): reading them from the curated table is a ranged GET per Parquet footer and key chunk, timed apart by
nothing here (network). The anomaly rule's ledger Query is left out for the same reason: its statistic over ten
numbers costs microseconds.

    python -m bench.run --only quality [--quick]
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.common import Options, load_average, median, spread, table, write_result

RULES: list[dict[str, Any]] = [
    {"type": "row_count", "min": 1},
    {"type": "row_count_anomaly"},
    {"type": "completeness", "column": "risk", "min": 0.99},
    {"type": "unique", "columns": ["account", "offer_id"]},
    {"type": "unique", "columns": ["offer_id"], "name": "unique(offer_id)"},
    {"type": "references", "column": "account", "dataset": "accounts"},
    {"type": "freshness", "column": "created", "max_age": "400d"},
    {"type": "distinct_count", "column": "risk", "max": 3},
    {"type": "mean", "column": "amount", "max": 1000},
    {"type": "min", "column": "amount", "min": 0},
    {"type": "max", "column": "amount", "max": 1000},
    {"type": "expression", "check": "expire > created"},
    {
        "type": "expression",
        "check": "abs(amount - round(amount, 2)) <= 0.01 and amount >= 0",
        "name": "arith",
    },
]
FIELDS = [
    {"name": "account"},
    {"name": "offer_id"},
    {"name": "catalog_id"},
    {"name": "account_type_code"},
    {"name": "offer_type_id"},
    {"name": "created", "type": "datetime"},
    {"name": "expire", "type": "datetime"},
    {"name": "risk"},
    {"name": "amount", "type": "number"},
]


def staged_rows(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    now = np.datetime64("2026-01-01T00:00:00", "us")
    created = now - rng.integers(1, 365 * 86_400_000_000, size=rows).astype("timedelta64[us]")
    expire = created + rng.integers(7 * 86_400_000_000, 365 * 86_400_000_000, size=rows).astype(
        "timedelta64[us]"
    )
    accounts = np.array([f"{n:08d}" for n in rng.integers(0, 10**8, size=20)])
    return pa.table(
        {
            "account": pa.array(accounts[rng.integers(0, 20, size=rows)]),
            "offer_id": pa.array(np.char.zfill(np.arange(rows).astype(str), 12)),
            "catalog_id": pa.array(np.char.zfill(rng.integers(0, 10**17, size=rows).astype(str), 18)),
            "account_type_code": pa.array(np.array(["AB", "CD", "EF"])[rng.integers(0, 3, size=rows)]),
            "offer_type_id": pa.array(np.char.zfill(rng.integers(0, 10**8, size=rows).astype(str), 8)),
            "created": pa.array(created, pa.timestamp("us", tz="UTC")),
            "expire": pa.array(expire, pa.timestamp("us", tz="UTC")),
            "risk": pa.array(np.array(["low", "medium", "high"])[rng.integers(0, 3, size=rows)]),
            "amount": pa.array(np.round(rng.random(rows) * 500, 2)),
        }
    )


def run(opts: Options) -> Path:
    from sluice_lib.contracts import parse_contract
    from sluice_lib.quality.evaluate import RuleInputs, evaluate

    rows = 20_000 if opts.quick else 1_000_000
    loads = [load_average()]
    rules = [{"severity": "warn", **r} for r in RULES]
    contract = parse_contract({"dataset": "offers", "schema": {"fields": FIELDS}, "quality": rules}, "bench")
    staged = staged_rows(rows)
    keys = pa.concat_arrays(
        [pc.unique(staged["account"].combine_chunks()), pa.array([f"x{n:07d}" for n in range(100_000)])]
    )
    inputs = RuleInputs(
        rows=rows,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        dataset="offers",
        history=lambda limit: [rows, rows - 10, rows + 10][:limit],
        reference_keys=lambda dataset, column: keys,
    )
    measured: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="sluice-bench-quality-") as tmp:
        path = Path(tmp) / "part-00000.parquet"
        pq.write_table(staged, path)
        size = path.stat().st_size
        everything: list[float] = []
        for rule in [*contract.quality_rules(), None]:
            batch = contract.quality_rules() if rule is None else [rule]
            cpu: list[float] = []
            for _ in range(opts.runs):
                started = time.process_time()
                (first, *_) = evaluate(batch, path, inputs)
                cpu.append(time.process_time() - started)
            if rule is None:
                everything = cpu
                continue
            measured.append(
                (
                    f"`{rule.rule_name}`",
                    f"{median(cpu):.3f}",
                    spread(cpu),
                    f"{first.value} ({'pass' if first.passed else 'fail'})",
                )
            )
        measured.append(
            ("**all of them, one evaluate()**", f"{median(everything):.3f}", spread(everything), "-")
        )
    loads.append(load_average())
    body = f"""
## Result

{rows:,} staged rows ({size / 1e6:.1f} MB of staging Parquet, 9 columns); CPU seconds of `evaluate([rule], staging
file, ...)` (reading the rule's columns included), median of {opts.runs} runs.

{table(("rule", "CPU s, median", "CPU s, min-max", "value measured"), measured)}

For scale: Validate's row checks of 1,000,000 offers rows (124 MB of CSV) take about 0.86 CPU seconds at its
recorded 143.6 MB per CPU-second (bench/results/validate.md).
"""
    return write_result(opts, "quality", "Quality rules: CPU per rule on 1M staged rows", body, loads)
