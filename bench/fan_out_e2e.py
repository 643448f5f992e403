"""The fan-out paths through the emulated stack: one offers file run by `sluice run` twice, on the single path
and with shrunken limits (Validate over byte ranges, the serving load over row ranges), each under
`/usr/bin/time -v`; the two runs' outputs compared (curated rows, quarantine rows, bad-records rows, counts,
serving items) and their wall time, per-state seconds and peak memory recorded in bench/results/fan-out-e2e.md.

    python -m bench.fan_out_e2e --rows 200000 --chunk-bytes 4000000 --serving-items 50000
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from bench.common import DATA, RESULTS, load_average, machine_section, table

SOURCE_NAME = "offers-fan-out.csv"


def _sluice_run(path: Path, out: Path, params: list[str]) -> dict[str, Any]:
    """`sluice run --json` under /usr/bin/time -v: the summary, and the process's peak RSS and wall seconds."""
    command = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        "-m",
        "sluice.cli",
        "run",
        str(path),
        "--dataset",
        "offers",
    ]
    command += ["--out", str(out), "--json", *params]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    summary = json.loads(done.stdout)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return {
        "summary": summary,
        "peak_mb": int(rss.group(1)) / 1024 if rss else float("nan"),
        "command": command,
    }


def _curated(out: Path) -> list[dict[str, Any]]:
    keep = ["account", "offer_id", "catalog_id", "created", "expire", "risk", "year", "month", "_row_hash"]
    table_ = ds.dataset(out / "curated" / "offers", format="parquet", partitioning="hive").to_table(
        columns=keep
    )
    return sorted(table_.to_pylist(), key=lambda r: (r["account"], r["offer_id"]))


def _quarantine(out: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for found in sorted((out / "quarantine" / "offers").rglob("bad_rows.csv")):
        rows += list(csv.DictReader(found.open(encoding="utf-8", newline="")))
    return rows


def _dlq_rows(out: Path) -> list[Any]:
    messages = [json.loads(line) for line in (out / "dlq.jsonl").read_text(encoding="utf-8").splitlines()]
    return sorted((row["line"], row["reasons"]) for m in messages for row in m["body"]["rows"])


RUN_LINEAGE = ("_ingest_id", "_ingested_at")  # each upload's id (from its S3 version) and the run's time


def _serving(out: Path) -> list[Any]:
    items = [json.loads(line) for line in (out / "serving.jsonl").read_text(encoding="utf-8").splitlines()]
    kept = [{k: v for k, v in item.items() if k not in RUN_LINEAGE} for item in items]
    return sorted(json.dumps(item, sort_keys=True) for item in kept)


def _states(execution: dict[str, Any]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for state in execution["states"]:
        seconds[state["name"]] = seconds.get(state["name"], 0.0) + float(state["seconds"])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fan_out_e2e")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-bytes", type=int, default=4_000_000)
    parser.add_argument("--serving-items", type=int, default=50_000)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    source = DATA / SOURCE_NAME
    generate = [
        sys.executable,
        "-m",
        "sluice.cli",
        "generate",
        "--dataset",
        "offers",
        "--rows",
        str(args.rows),
    ]
    subprocess.run(
        [*generate, "--bad-rate", "0.01", "--seed", "7", "-o", str(source)], check=True, capture_output=True
    )
    loads = [load_average()]
    work = DATA / "fan-out-e2e"
    params = [
        "--param",
        f"ValidateChunkBytes={args.chunk_bytes}",
        "--param",
        f"LoadServingItems={args.serving_items}",
    ]
    single = _sluice_run(source, work / "single", [])
    fanned = _sluice_run(source, work / "fanned", params)
    loads.append(load_average())
    one, many = single["summary"]["executions"][0], fanned["summary"]["executions"][0]
    compared = {
        "curated rows": (_curated(work / "single"), _curated(work / "fanned")),
        "quarantine rows (line, reasons, raw)": (_quarantine(work / "single"), _quarantine(work / "fanned")),
        "bad-records rows (line, reasons)": (_dlq_rows(work / "single"), _dlq_rows(work / "fanned")),
        "serving items (every attribute but _ingest_id, _ingested_at)": (
            _serving(work / "single"),
            _serving(work / "fanned"),
        ),
        "counts (in, blank, valid, rejected, curated, deduped, loaded)": (one["rows"], many["rows"]),
    }
    equal = [
        (what, len(a) if isinstance(a, list) else a["in"], "equal" if a == b else "DIFFERENT")
        for what, (a, b) in compared.items()
    ]
    s1, s2 = _states(one), _states(many)
    names = list(dict.fromkeys([*s1, *s2]))
    per_state = [
        (name, f"{s1[name]:.1f}" if name in s1 else "-", f"{s2[name]:.1f}" if name in s2 else "-")
        for name in names
    ]
    size_mb = source.stat().st_size / 1e6
    command = f"python -m bench.fan_out_e2e --rows {args.rows} --chunk-bytes {args.chunk_bytes} --serving-items {args.serving_items}"
    report = "\n\n".join(
        [
            "# The fan-out paths through the emulated stack",
            f"Produced by `{command}`: `sluice generate`'s offers rows (seed 7, 1% bad rows), {size_mb:.1f} MB, "
            "run by `sluice run --json` under `/usr/bin/time -v`, once on the single path (the template's defaults) "
            f"and once with `--param ValidateChunkBytes={args.chunk_bytes} --param LoadServingItems={args.serving_items}`. "
            "Peak memory is the whole `sluice run` process (the emulated AWS, every Lambda, DuckDB, and the export of "
            "the outputs), not one Lambda's.",
            machine_section(loads),
            "## Outputs\n\n" + table(("compared", "rows", "single vs fan-out"), equal),
            "## Time and memory\n\n"
            + table(
                ("run", "status", "chunks", "LoadServing Map", "wall s", "peak RSS MB"),
                [
                    (
                        label,
                        e["status"],
                        e["chunks"],
                        "yes" if "LoadServing" in [s["name"] for s in e["states"]] else "no",
                        f"{e['seconds']:.1f}",
                        f"{r['peak_mb']:.0f}",
                    )
                    for label, e, r in (("single path", one, single), ("fan-out", many, fanned))
                ],
            ),
            "Seconds per state (a Map's own row covers its children):\n\n"
            + table(("state", "single", "fan-out"), per_state),
        ]
    )
    out = RESULTS / "fan-out-e2e.md"
    out.write_text(report + "\n", encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
