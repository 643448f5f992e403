"""Load's serving writes alone: N offers-like items through `sluice_lib.serving.write_items` into the emulation.

    python -m bench.dynamodb_write_bench 20000                       # every moto correction applied
    python -m bench.dynamodb_write_bench 20000 --revert dynamodb_compact_items   # one (or more) left out
    python -m bench.dynamodb_write_bench 20000 --validate            # with botocore's parameter validation
    python -m bench.dynamodb_write_bench 20000 --workers 1           # one writer thread (Load has eight)
    python -m bench.dynamodb_write_bench 100000 --scan               # then read them back as the export does

Prints wall and CPU seconds, items a second and the memory the stored items added (the process's RSS).
`--scan` then times a paginated Scan of the whole table (sluice.local.export's read) with every correction,
then on the same table without each read correction in turn (dynamodb_response_serializing,
dynamodb_scan_resume), then without both (moto's own read path).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import boto3
from moto import mock_aws

from sluice.local import moto_fixes
from sluice_lib.handler import BULK_WRITES, POOLED
from sluice_lib.serving import MAX_WORKERS, write_items

READ_FIXES = ("dynamodb_response_serializing", "dynamodb_scan_resume")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _item(i: int) -> dict[str, dict[str, object]]:
    return {
        "pk": {"S": f"offers#acct{i % 5000}#offer-{i:09d}"},
        "sk": {"S": "-"},
        "account_id": {"S": f"acct{i % 5000}"},
        "offer_id": {"S": f"offer-{i:09d}"},
        "title": {"S": f"Some product title here {i}"},
        "price": {"N": f"{i % 1000}.99"},
        "currency": {"S": "EUR"},
        "quantity": {"N": str(i % 50)},
        "active": {"BOOL": True},
        "updated_at": {"S": "2026-11-22T10:11:12Z"},
        "url": {"S": f"https://example.com/o/{i}"},
        "_row_hash": {"S": f"{i:032x}"},
    }


def _scan_seconds(client: object) -> tuple[float, int]:
    started, items = time.perf_counter(), 0
    for page in client.get_paginator("scan").paginate(TableName="serving"):  # type: ignore[attr-defined]
        items += len(page["Items"])
    return time.perf_counter() - started, items


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dynamodb_write_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("items", type=int)
    parser.add_argument("--revert", action="append", default=[], help="leave this moto correction out")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="botocore's client-side parameter validation on (the Load function's client leaves it to DynamoDB)",
    )
    parser.add_argument(
        "--workers", type=int, default=MAX_WORKERS, help="writer threads (Load's: %(default)s)"
    )
    parser.add_argument(
        "--scan", action="store_true", help="then time a paginated Scan, with and without the fix"
    )
    args = parser.parse_args()
    moto_fixes.apply()
    if args.revert:
        moto_fixes.revert(*args.revert)
    with mock_aws():
        # The Load function's serving client (functions/load/app.py), or the validating config it had before.
        config = POOLED if args.validate else BULK_WRITES
        client = boto3.client("dynamodb", region_name="us-east-1", config=config)
        client.create_table(
            TableName="serving",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        items = [_item(i) for i in range(args.items)]
        before, started, cpu = _rss_mb(), time.perf_counter(), time.process_time()
        write_items(client, "serving", items, max_workers=args.workers)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        count = client.describe_table(TableName="serving")["Table"]["ItemCount"]
        print(
            f"{args.items:,} items ({count:,} stored): {wall:.1f} s wall, {cpu:.1f} s CPU "
            f"({cpu / args.items * 1e6:.0f} µs an item), {args.items / wall:,.0f} items/s, "
            f"+{_rss_mb() - before:.0f} MB resident"
        )
        if args.scan:
            fixed, read = _scan_seconds(client)
            print(f"scan, every correction: {read:,} items in {fixed:.1f} s", flush=True)
            for left_out in (["dynamodb_response_serializing"], ["dynamodb_scan_resume"], list(READ_FIXES)):
                moto_fixes.revert(*left_out)
                seconds, read = _scan_seconds(client)
                moto_fixes.apply()
                print(
                    f"scan without {' and '.join(left_out)}: {read:,} items in {seconds:.1f} s "
                    f"({seconds / fixed:.1f}x)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
