"""The merge of a run's curated rows into a keyed curated table, stated once for both engines: which columns
decide, which row wins, what is counted, and the existing table's current partitions as the engines take them.
Pure: no Spark, no DuckDB, no boto3, no pydantic, so the Glue job can ship it with `--extra-py-files`.

Copy-on-write per partition: an engine reads only the key columns of the existing partitions' files to find the
partitions that hold an incoming key; those and the existing partitions an incoming row falls in are *touched*.
It reads the touched partitions whole and writes the merged rows of exactly the touched partitions and the run's
new ones; every other partition is left as it is. Per key
the winner is the highest `dedupe.order_by` (null lowest), then the later `_ingested_at`, then the incoming row
(a rerun of an upload replaces its own rows), then the higher `_row_hash`. A key whose partition value changed
leaves its old partition: that partition is touched and rewritten without it (or, holding nothing else, listed
as emptied). Counts per run, over the run's rows after the within-file dedupe: `inserted` (key new to the
table), `updated` (the incoming row won and its `_row_hash` differs) and `unchanged` (the rest).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sluice_lib.curated import HIVE_NULL_PARTITION

MERGE_COUNTS = ("inserted", "updated", "unchanged")
# The lineage column that orders two versions of a key with equal `order_by`, and the one that names a version.
INGESTED_AT = "_ingested_at"
ROW_HASH = "_row_hash"


@dataclass(frozen=True)
class MergeRule:
    """The curated names (after `transform.rename`) of the key columns and of the `dedupe.order_by` column."""

    keys: tuple[str, ...]
    order_by: str | None


def merge_rule(contract: Mapping[str, Any]) -> MergeRule | None:
    """The merge rule of a contract (as JSON), or None when it has no `primaryKey` (append-only)."""
    keys = contract["schema"].get("primaryKey") or []
    if not keys:
        return None
    pipeline = contract.get("pipeline") or {}
    rename = (pipeline.get("transform") or {}).get("rename") or {}
    order_by = (pipeline.get("dedupe") or {}).get("order_by")
    return MergeRule(
        keys=tuple(rename.get(k, k) for k in keys),
        order_by=rename.get(order_by, order_by) if order_by else None,
    )


def partition_pairs(partition: str) -> list[tuple[str, str | None]]:
    """`area=a%2Fb/day=__HIVE_DEFAULT_PARTITION__` -> `[("area", "a/b"), ("day", None)]` (Spark's unescaping)."""
    pairs: list[tuple[str, str | None]] = []
    for part in partition.split("/"):
        if not part:
            continue
        name, sep, text = part.partition("=")
        if not sep:
            raise ValueError(f"partition {partition!r}: {part!r} is not <column>=<value>")
        pairs.append((name, None if text == HIVE_NULL_PARTITION else unquote(text)))
    return pairs


def partition_value_text(value: Any) -> str | None:
    """A partition column's value as `partition_pairs` gives it back (unescaped text; None for null and `""`)."""
    if value is None:
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text or None


def parse_existing(text: str | None) -> dict[str, list[str]] | None:
    """The engines' `existing` argument (`--merge_with`): JSON `{"<partition dir>": ["<file>", ...], ...}`, the
    current files of every partition of the curated table (`""` for an unpartitioned table); None when absent."""
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--merge_with is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(f, str) for f in v)
        for k, v in parsed.items()
    ):
        raise ValueError('--merge_with must be a JSON object {"<partition>": ["<file>", ...], ...}')
    return {k: list(v) for k, v in parsed.items()}


def merge_section(
    counts: Mapping[str, int], touched: Sequence[str], written: Sequence[str], existing: Mapping[str, Any]
) -> dict[str, Any]:
    """The manifest's `merge` section: the counts, the existing partitions the run rewrote (`replaced`), those
    it emptied (every key moved out: drop them from the catalog) and the partitions it adds (`added`)."""
    written_set = set(written)
    return {
        **{name: int(counts[name]) for name in MERGE_COUNTS},
        "replaced": sorted(p for p in touched if p in written_set),
        "emptied": sorted(p for p in touched if p not in written_set),
        "added": sorted(p for p in written_set if p not in existing),
    }


def touched_partitions(
    existing: Mapping[str, Any], holding_keys: set[str], incoming_values: Sequence[Sequence[Any]]
) -> list[str]:
    """The existing partitions a merge rewrites: those holding an incoming key (`holding_keys`, found from the
    key columns alone) and those an incoming row falls in (`incoming_values`: the run's distinct partition
    column values, outermost first)."""
    by_values = {tuple(v for _, v in partition_pairs(p)): p for p in existing}
    receiving = {
        by_values[texts]
        for texts in (tuple(partition_value_text(v) for v in row) for row in incoming_values)
        if texts in by_values
    }
    return sorted(holding_keys | receiving)
