"""The merge on DuckDB (sluice_lib.merge states the rule): the run's curated rows in the `curated` table are
merged with the existing table's touched partitions; `curated` then holds the rows to write, lineage included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice_lib.merge import MERGE_COUNTS, MergeRule, partition_pairs, touched_partitions

# Hive type of a partition column -> DuckDB type its directory text is cast to.
_PARTITION_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}
_SOURCE = "__sluice_incoming"
_RANK = "__sluice_rank"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def _files(paths: Sequence[str]) -> str:
    return "[" + ", ".join(_literal(str(p)) for p in paths) + "]"


def merge_curated(
    con: Any,
    *,
    columns: Sequence[str],
    lineage: Sequence[str],
    partitions: Sequence[tuple[str, str]],
    rule: MergeRule,
    existing: Mapping[str, Sequence[str]],
    key_files: Mapping[str, str] | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Replaces the `curated` table (data `columns` and partition columns; `lineage` are the lineage columns'
    select expressions) with the merged rows of the touched and new partitions, lineage columns included, when
    the run touches an existing partition (else leaves it as it is, as Spark writes its lineage literals then).
    `partitions` = (name, Hive type) of the partition columns. `key_files` (file -> partition) are the files the
    key scan reads, when not `existing`'s own (sluice_lib.transform_lambda.remote: their key columns alone); only
    the touched partitions of `existing` are then read. Returns the counts and the touched partitions."""
    keys = ", ".join(_ident(k) for k in rule.keys)
    parts = [_ident(n) for n, _ in partitions]
    con.execute(
        f"CREATE TEMP TABLE incoming AS SELECT {', '.join([*map(_ident, columns), *lineage, *parts])} FROM curated"
    )
    files = {str(f): p for p, fs in existing.items() for f in fs} if key_files is None else dict(key_files)
    holding: set[str] = set()
    if files:  # the key columns of every existing file, nothing else
        found = con.execute(
            f"SELECT DISTINCT e.filename FROM read_parquet({_files(list(files))}, filename = true, "
            f"union_by_name = true, hive_partitioning = false) e SEMI JOIN incoming i USING ({keys})"
        ).fetchall()
        holding = {files[name] for (name,) in found}
    incoming_values = con.execute(f"SELECT DISTINCT {', '.join(parts) or '1'} FROM incoming").fetchall()
    touched = touched_partitions(existing, holding, [row[: len(parts)] for row in incoming_values])
    if not touched:  # nothing to merge with: the run's rows as they are (lineage still literals, `required`)
        (total,) = con.execute("SELECT count(*) FROM incoming").fetchall()[0]
        con.execute("DROP TABLE incoming")
        return dict(zip(MERGE_COUNTS, (total, 0, 0), strict=True)), touched
    reads = []
    for partition in touched:
        typed = [
            f"CAST({_literal(text)} AS {_PARTITION_TYPES[hive]}) AS {_ident(name)}"
            for (name, text), (_, hive) in zip(partition_pairs(partition), partitions, strict=True)
        ]
        reads.append(
            f"SELECT *, {', '.join([*typed, '0 AS ' + _SOURCE])} FROM read_parquet("
            f"{_files(existing[partition])}, union_by_name = true, hive_partitioning = false)"
        )
    union = " UNION ALL BY NAME ".join([f"SELECT *, 1 AS {_SOURCE} FROM incoming", *reads])
    order = [f"{_ident(rule.order_by)} DESC NULLS LAST"] if rule.order_by else []
    order += ["_ingested_at DESC NULLS LAST", f"{_SOURCE} DESC", "_row_hash DESC NULLS LAST"]
    con.execute(f"CREATE TEMP TABLE versions AS {union}")
    con.execute(
        f"CREATE TEMP TABLE merged AS SELECT * EXCLUDE ({_RANK}) FROM (SELECT *, row_number() OVER "
        f"(PARTITION BY {keys} ORDER BY {', '.join(order)}) AS {_RANK} FROM versions) WHERE {_RANK} = 1"
    )
    inserted, updated, total = con.execute(
        f"SELECT count(*) FILTER (WHERE e.__known IS NULL), "
        f"count(*) FILTER (WHERE e.__known AND m.{_SOURCE} = 1 AND m._row_hash IS DISTINCT FROM e._row_hash), "
        f"count(*) FROM (SELECT {keys} FROM incoming) i "
        f"LEFT JOIN (SELECT {keys}, _row_hash, true AS __known FROM versions WHERE {_SOURCE} = 0) e USING ({keys}) "
        f"JOIN merged m USING ({keys})"
    ).fetchall()[0]
    con.execute("DROP TABLE curated")
    con.execute(f"CREATE TEMP TABLE curated AS SELECT * EXCLUDE ({_SOURCE}) FROM merged")
    for table in ("merged", "versions", "incoming"):
        con.execute(f"DROP TABLE {table}")
    counts = dict(zip(MERGE_COUNTS, (inserted, updated, total - inserted - updated), strict=True))
    return counts, touched
