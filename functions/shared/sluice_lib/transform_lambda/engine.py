"""The transform on DuckDB: a run's typed staging Parquet -> curated Parquet + manifest, as the Glue job's
`sluice_transform.job.run()` writes them, for the contracts sluice_lib.transform_engine lets the Lambda engine
take.

Same in both engines (tests/glue/test_glue_lambda_engine_parity.py holds them to it): the rows and values;
the column order (data columns, `_ingest_id`, `_source_key`, `_ingested_at`, `_row_hash`, partition columns);
the Parquet types (string, bigint, double, boolean, date, int, timestamp as INT64 microseconds adjusted to UTC)
and nullability (data columns and `_row_hash` optional, the lineage literals required); Hive partition
directories (`year=2024/month=5`, Spark's escaping, `__HIVE_DEFAULT_PARTITION__` for null and empty strings),
one file per directory; the manifest. The steps, in the Glue job's order and with its semantics:

1 staging column names to lower snake case, 2 checked against the contract, 3 cast to the curated types,
4 every string column trimmed of Java's `\\s` ([ \\t\\n\\x0B\\f\\r]; Java's `$` also matches before a final line
terminator, so whitespace before a final U+0085/U+2028/U+2029 goes too), 5 the last row per primary key by
`dedupe.order_by` (nulls lowest), ties by staging line order, 6 lineage with `_row_hash` = hex sha256 of the
length-prefixed text of every contract field (numbers and booleans as Spark casts them to string: doubles as
Java 17 prints them, see java_text), 7 rename, 8 partition columns.

What differs: file names (`part-00000.snappy.parquet`; Load renames files as it publishes them), and DuckDB
annotates INT32/INT64 columns with the signed-integer logical type of their width, which readers take as the
same int/bigint. DuckDB alone reads and writes (no pyarrow): the function's layers must stay under Lambda's
250 MB, and the AWS SDK for pandas layer that brings pyarrow to the other steps would not leave room for it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from sluice_lib.contracts import Contract, FieldSpec
from sluice_lib.curated import (
    DATA_FOLDER,
    HIVE_NULL_PARTITION,
    HIVE_TYPES,
    LINEAGE_COLUMNS,
    LINEAGE_TYPES,
    MANIFEST_NAME,
    Lineage,
    partition_dir_text,
    partitions_of,
    raise_if_staging_contradicts,
    snake_case_columns,
)
from sluice_lib.errors import LambdaEngineIneligibleError, StagingNotFoundError
from sluice_lib.merge import merge_rule, merge_section
from sluice_lib.transform_engine import lambda_blockers
from sluice_lib.transform_lambda.java_text import java_double_to_string
from sluice_lib.transform_lambda.merge import merge_curated

_FILE = "__sluice_file"
_LINE = "__sluice_line"
_SENTINEL = "__sluice_sentinel"
_JAVA_DOUBLE = "sluice_java_double"

# Contract type -> DuckDB type of the curated column (its Hive name: sluice_lib.curated.HIVE_TYPES).
DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMPTZ",  # an instant; a staging timestamp without zone is read as UTC
    "time": "VARCHAR",
    "year": "INTEGER",
}
# Java's \s, and the line terminators before which Java's `$` also matches at the end of the input.
_JAVA_SPACE = r"[ \t\n\x0B\f\r]"
_FINAL_TERMINATORS = r"[\x{85}\x{2028}\x{2029}]"


# --- names and types ------------------------------------------------------------------------------------


_INTEGRAL = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT")
# DuckDB's names of staging types -> Spark's, for messages that read as the Glue job's.
_SPARK_NAMES = {
    "VARCHAR": "string",
    "TINYINT": "tinyint",
    "SMALLINT": "smallint",
    "INTEGER": "int",
    "BIGINT": "bigint",
    "FLOAT": "float",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "TIMESTAMP": "timestamp_ntz",
}


def _accepts(kind: str, staged: str) -> bool:
    """Staging types (as DuckDB reads the Parquet) each contract type accepts: strict, as the Glue job's, since
    staging is typed by Validate from the same contract, so another type means the two disagree; an all-null
    column fits any."""
    if staged == '"NULL"' or staged == "NULL":
        return True
    if kind in ("string", "time"):
        return staged == "VARCHAR"
    if kind in ("integer", "year"):
        return staged in _INTEGRAL
    if kind == "number":
        return staged in (*_INTEGRAL, "FLOAT", "DOUBLE") or staged.startswith("DECIMAL")
    if kind == "boolean":
        return staged == "BOOLEAN"
    if kind == "date":
        return staged == "DATE"
    return staged.startswith("TIMESTAMP")  # datetime: with or without zone, any unit


def staging_files(source: Path) -> list[Path]:
    """The staging folder's data files in name order: the upload's line order when the fanned-out Validate wrote
    one part per chunk (part-00000, part-00001, ...), so the dedupe tiebreak (file, then row) is the Glue job's;
    files named `_*` or `.*` are skipped, as Spark does."""
    files = [p for p in source.iterdir() if p.is_file() and not p.name.startswith(("_", "."))]
    if not files:
        raise StagingNotFoundError(f"{source}: no staging Parquet")
    return sorted(files, key=lambda p: p.name)


def _read_parquet(path: Path) -> str:
    return f"read_parquet({_literal(str(path))}, file_row_number = true, hive_partitioning = false)"


def _staging_columns(con: Any, files: Sequence[Path], fields: Sequence[FieldSpec]) -> dict[str, str]:
    """Contract field -> staging column name; raises StagingSchemaError naming every problem."""
    import duckdb  # only the TransformInLambda function needs it (its own layer holds it)

    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {_read_parquet(files[0])}").fetchall()
    except duckdb.Error as exc:
        raise StagingNotFoundError(f"{files[0]}: not readable Parquet ({exc})") from exc
    staged = [(name, kind) for name, kind, *_ in described if name != "file_row_number"]
    names = snake_case_columns([name for name, _ in staged])
    by_name = dict(zip(names, staged, strict=True))
    missing = [f.name for f in fields if f.name not in by_name]
    wrong = [
        f"{f.name} ({_SPARK_NAMES.get(by_name[f.name][1], by_name[f.name][1].lower())}, contract says {f.type})"
        for f in fields
        if f.name in by_name and not _accepts(f.type, by_name[f.name][1])
    ]
    raise_if_staging_contradicts(missing, wrong)
    return {f.name: by_name[f.name][0] for f in fields}


# --- SQL --------------------------------------------------------------------------------------------------


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def java_trim_sql(expr: str) -> str:
    """Spark's `regexp_replace(x, '^\\s+|\\s+$', '')` with Java's regex semantics, in RE2."""
    leading = f"regexp_replace({expr}, '^{_JAVA_SPACE}+', '')"
    return f"regexp_replace({leading}, '{_JAVA_SPACE}+({_FINAL_TERMINATORS}?)$', '\\1')"


def _hash_text_sql(name: str, kind: str) -> str:
    """Length-prefixed text of one value (`5:hello`), `-` for null, as the Glue job's `_hash_text`."""
    column = _ident(name)
    if kind == "datetime":
        text = f"strftime({column}, '%Y-%m-%dT%H:%M:%S.%fZ')"
    elif kind == "number":
        text = f"{_JAVA_DOUBLE}({column})"
    elif kind in ("string", "time"):
        text = column
    else:  # bigint, int, boolean, date: DuckDB's text is Spark's
        text = f"CAST({column} AS VARCHAR)"
    return f"CASE WHEN {column} IS NULL THEN '-' ELSE CAST(length({text}) AS VARCHAR) || ':' || {text} END"


@dataclass(frozen=True)
class _Shape:
    data: list[tuple[str, str]]  # (curated name, select expression) of the data columns, in order
    parts: list[tuple[str, str, str]]  # (name, select expression, Hive type) of the partition columns
    types: dict[str, str]  # curated column -> Hive type


def _shape(contract: Contract) -> _Shape:
    """Rename, then partition columns: date parts of the (renamed) field, or columns moved to the end."""
    fields = contract.fields
    rename = contract.pipeline.transform.rename
    unknown = [c for c in rename if c not in {f.name for f in fields}]
    if unknown:
        raise ValueError(f"pipeline.transform.rename names unknown columns: {', '.join(unknown)}")
    renamed = [(rename.get(f.name, f.name), f) for f in fields]
    types = {name: HIVE_TYPES[f.type] for name, f in renamed}
    data = [(name, _ident(f.name)) for name, f in renamed]
    part = contract.pipeline.partition_by
    parts: list[tuple[str, str, str]] = []
    if part and part.field:
        source = dict((f.name, f) for f in fields)[part.field]
        clash = [p for p in part.parts if p in types]
        if clash:
            raise ValueError(f"partition columns {clash} would overwrite data columns of the same name")
        stamp = (
            _ident(source.name) if source.type == "datetime" else f"CAST({_ident(source.name)} AS TIMESTAMP)"
        )
        parts = [(p, f"CAST({p}({stamp}) AS INTEGER)", "int") for p in part.parts]  # DuckDB's year(), ...
    elif part and part.columns:
        missing = [c for c in part.columns if c not in types]
        if missing:
            raise ValueError(f"partition columns not in the data: {', '.join(missing)}")
        # Spark's writer turns an empty string partition value into null (one directory, one file for both).
        parts = [
            (c, f"nullif({dict(data)[c]}, '')" if types[c] == "string" else dict(data)[c], types[c])
            for c in part.columns
        ]
        data = [(n, e) for n, e in data if n not in part.columns]
    for name, _, hive in parts:
        types[name] = hive
    return _Shape(data=data, parts=parts, types=types)


def curated_sql(files: Sequence[Path], columns: dict[str, str], contract: Contract) -> str:
    """One SELECT from the staging files to the curated rows: data columns, `_row_hash`, partition columns.
    (The lineage literals are added as the files are written.)"""
    fields = contract.fields
    staged = " UNION ALL BY NAME ".join(
        f"SELECT *, {i} AS {_FILE}, file_row_number AS {_LINE} FROM {_read_parquet(path)}"
        for i, path in enumerate(files)
    )

    def conform(f: FieldSpec) -> str:
        cast = f"CAST({_ident(columns[f.name])} AS {DUCKDB_TYPES[f.type]})"
        if f.type in ("string", "time"):
            cast = java_trim_sql(cast)
        return f"{cast} AS {_ident(f.name)}"

    kept = "conformed"
    dedupe = contract.pipeline.dedupe
    if contract.primary_key:  # with or without `dedupe`: one row per key, the later line by default
        key = ", ".join(_ident(k) for k in contract.primary_key)
        order = [f"{_ident(dedupe.order_by)} DESC NULLS LAST"] if dedupe and dedupe.order_by else []
        order += [f"{_FILE} DESC", f"{_LINE} DESC"]
        window = f"row_number() OVER (PARTITION BY {key} ORDER BY {', '.join(order)})"
        kept = f"(SELECT * FROM conformed QUALIFY {window} = 1)"
    shape = _shape(contract)
    row_hash = "sha256(concat(" + ", ".join(_hash_text_sql(f.name, f.type) for f in fields) + "))"
    select = [f"{expr} AS {_ident(name)}" for name, expr in shape.data]
    select += [f"{row_hash} AS _row_hash"]
    select += [f"{expr} AS {_ident(name)}" for name, expr, _ in shape.parts]
    return (
        f"WITH staged AS ({staged}),\n"
        f"conformed AS (SELECT {', '.join(conform(f) for f in fields)}, {_FILE}, {_LINE} FROM staged)\n"
        f"SELECT {', '.join(select)} FROM {kept}"
    )


def _lineage_sql(lineage: Lineage) -> list[str]:
    """The lineage columns as literals: DuckDB writes a column it knows holds no null as `required`, as
    Spark writes its lineage literals (`_source_key` only when there is one)."""
    ingested_at = lineage.ingested_at.astimezone(UTC).isoformat()
    return [
        f"CAST({_literal(lineage.ingest_id)} AS VARCHAR) AS _ingest_id",
        f"CAST({_literal(lineage.source_key)} AS VARCHAR) AS _source_key",
        f"CAST({_literal(ingested_at)} AS TIMESTAMPTZ) AS _ingested_at",
        "_row_hash",
    ]


# --- writing ------------------------------------------------------------------------------------------


def partition_text(value: Any, hive_type: str) -> str:
    """A partition value as Spark names its directory: escaped text, `__HIVE_DEFAULT_PARTITION__` for null
    (and the empty string, which Spark's writer turns into null)."""
    if value is None:
        return HIVE_NULL_PARTITION
    if hive_type == "boolean":
        return partition_dir_text("true" if value else "false")
    return partition_dir_text(value.isoformat() if hasattr(value, "isoformat") else str(value))


def _sql_value(value: Any, hive_type: str) -> str:
    """A partition value as a SQL literal of its column's type."""
    if value is None:
        return "NULL"
    if hive_type == "boolean":
        return "true" if value else "false"
    if hive_type in ("int", "bigint"):
        return str(int(value))
    if hive_type == "date":
        return f"DATE '{value.isoformat()}'"
    return _literal(str(value))


def _connect(threads: int | None, memory_limit_mb: int | None, temp_dir: Path | None) -> Any:
    import duckdb  # only the TransformInLambda function needs it (its own layer holds it)
    from duckdb.func import NATIVE

    config: dict[str, Any] = {"threads": threads or os.cpu_count() or 1}
    if memory_limit_mb:
        config["memory_limit"] = f"{memory_limit_mb}MB"
    if temp_dir is not None:
        config["temp_directory"] = str(temp_dir)
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET TimeZone = 'UTC'")
    # Value by value, but cached by bits: the function holds few distinct numbers per column, usually.
    con.create_function(
        _JAVA_DOUBLE, java_double_to_string, ["DOUBLE"], "VARCHAR", type=NATIVE, side_effects=False
    )
    return con


def transform_folder(
    source: Path,
    output: Path,
    contract: Contract,
    *,
    run_id: str,
    lineage: Lineage,
    threads: int | None = None,
    memory_limit_mb: int | None = None,
    temp_dir: Path | None = None,
    existing: Mapping[str, Sequence[str]] | None = None,
    existing_keys: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Reads the staging files in `source`, writes `<output>/data/...` and `<output>/_manifest.json` as the
    Glue job does (a previous `<output>/data/` is replaced); returns the manifest.

    With `existing` (the curated table's current files per partition) and a `primaryKey`, the run's rows are
    merged into the table (sluice_lib.merge): `data/` holds the merged touched and new partitions and the
    manifest's `merge` section says which and counts `inserted`, `updated`, `unchanged`. `existing_keys` (file ->
    partition: files of the key columns alone) replaces `existing`'s files in the key scan (merge_curated)."""
    blockers = lambda_blockers(contract)
    if blockers:
        raise LambdaEngineIneligibleError(
            f"{contract.dataset}: the contract needs Spark ({', '.join(blockers)}); the Glue job transforms it"
        )
    if lineage.ingested_at.tzinfo is None:
        raise ValueError("ingested_at must be timezone-aware")
    files = staging_files(source)
    shape = _shape(contract)
    data_dir = output / DATA_FOLDER
    _clear(data_dir)
    data_dir.mkdir(parents=True)
    con = _connect(threads, memory_limit_mb, temp_dir)
    try:
        columns = _staging_columns(con, files, contract.fields)
        listed = ", ".join(_literal(str(p)) for p in files)
        rows_read = int(con.execute(f"SELECT count(*) FROM read_parquet([{listed}])").fetchall()[0][0])
        con.execute(f"CREATE TEMP TABLE curated AS {curated_sql(files, columns, contract)}")
        rows_kept = rows_written = int(con.execute("SELECT count(*) FROM curated").fetchall()[0][0])
        written_lineage = _lineage_sql(lineage)
        merge = None
        rule = merge_rule(contract.model_dump(mode="json", by_alias=True))
        if existing is not None and rule is not None:
            counts, touched = merge_curated(
                con, columns=[n for n, _ in shape.data], lineage=written_lineage,
                partitions=[(n, t) for n, _, t in shape.parts], rule=rule, existing=existing,
                key_files=existing_keys,
            )  # fmt: skip
            if touched:
                written_lineage = list(LINEAGE_COLUMNS)
            rows_written = int(con.execute("SELECT count(*) FROM curated").fetchall()[0][0])
        # One all-null row, never written: it keeps DuckDB from writing a column as `required` because this
        # run's values happen to hold no null (Spark writes data columns optional).
        con.execute(f"ALTER TABLE curated ADD COLUMN {_SENTINEL} BOOLEAN DEFAULT false")
        con.execute(f"INSERT INTO curated ({_SENTINEL}) VALUES (true)")
        files_out = _write(con, data_dir, shape, written_lineage, rows_written)
        if existing is not None and rule is not None:
            merge = merge_section(
                counts, touched, partitions_of(files_out) or ([""] if rows_written else []), existing
            )
    finally:
        con.close()
    names = [n for n, _ in shape.data] + list(LINEAGE_COLUMNS)
    types = {**shape.types, **LINEAGE_TYPES}
    manifest = {
        "run_id": run_id,
        "dataset": contract.dataset,
        "rows_read": rows_read,
        "rows_deduped": rows_read - rows_kept,
        "rows_written": rows_written,
        "partitions": partitions_of(files_out),
        "files": files_out,
        "columns": [{"name": n, "type": types[n]} for n in names],
        "partition_keys": [{"name": n, "type": t} for n, _, t in shape.parts],
    }
    if merge is not None:
        manifest["merge"] = merge
    (output / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def _clear(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)


def _write(con: Any, data_dir: Path, shape: _Shape, lineage: list[str], rows: int) -> list[str]:
    """Snappy Parquet: one file per partition directory, or one file when unpartitioned (written even when
    empty, as Spark does)."""
    columns = ", ".join([*(_ident(n) for n, _ in shape.data), *lineage])
    options = "(FORMAT parquet, COMPRESSION snappy)"
    if not shape.parts:
        name = "part-00000.snappy.parquet"
        if rows:
            query = f"SELECT {columns} FROM curated WHERE NOT {_SENTINEL}"
        else:  # a filter DuckDB sees to be always false plans an empty result that loses `required` columns
            query = (
                f"SELECT {columns} FROM curated LIMIT (SELECT count(*) FROM curated WHERE NOT {_SENTINEL})"
            )
        con.execute(f"COPY ({query}) TO {_literal(str(data_dir / name))} {options}")
        return [name]
    quoted = ", ".join(_ident(n) for n, _, _ in shape.parts)
    values = con.execute(f"SELECT DISTINCT {quoted} FROM curated WHERE NOT {_SENTINEL}").fetchall()
    written: list[str] = []
    for row in values:
        pairs = list(zip(shape.parts, row, strict=True))
        folder = "/".join(f"{n}={partition_text(v, t)}" for (n, _, t), v in pairs)
        relative = f"{folder}/part-00000.snappy.parquet"
        (data_dir / folder).mkdir(parents=True, exist_ok=True)
        where = " AND ".join(
            [
                f"NOT {_SENTINEL}",
                *(f"{_ident(n)} IS NOT DISTINCT FROM {_sql_value(v, t)}" for (n, _, t), v in pairs),
            ]
        )
        con.execute(
            f"COPY (SELECT {columns} FROM curated WHERE {where}) TO {_literal(str(data_dir / relative))} {options}"
        )
        written.append(relative)
    return sorted(written)
