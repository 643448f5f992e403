"""The curated zone's layout and lineage, stated once for every engine (Glue job, DuckDB Lambda), Load and the cost
model. Pure: no Spark, no boto3, no pydantic, so the Glue job can ship it with `--extra-py-files`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sluice_lib.errors import StagingSchemaError

# Lineage columns stamped on every curated row, in this order after the data columns, with their Hive types.
LINEAGE_COLUMNS = ("_ingest_id", "_source_key", "_ingested_at", "_row_hash")
LINEAGE_TYPES = {
    "_ingest_id": "string",
    "_source_key": "string",
    "_ingested_at": "timestamp",
    "_row_hash": "string",
}

# A transform run's output folder: <output>/data/<partition dirs>/*.parquet, <output>/gold/<aggregate>/...,
# and <output>/_manifest.json, written last (its presence means the output is complete).
DATA_FOLDER = "data"
GOLD_FOLDER = "gold"
MANIFEST_NAME = "_manifest.json"

# Hive's (and Spark's) directory name for a null or empty partition value: `<column>=__HIVE_DEFAULT_PARTITION__`.
HIVE_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Characters Spark escapes as %XX in partition directory names (ExternalCatalogUtils.escapePathName).
PATH_ESCAPED = frozenset(
    [*map(chr, range(1, 32)), '"', "#", "%", "'", "*", "/", ":", "=", "?", "\\", "\x7f", "{", "[", "]", "^"]
)
# Date parts a contract may partition by (`partition_by: {field: ..., parts: [...]}`), as int columns.
DATE_PARTS = ("year", "month", "day", "hour")
# Validate writes a run's staging data to staging/<dataset>/ingest_id=<id>/: the staging tables' one partition key.
STAGING_PARTITION_KEY = "ingest_id"
# Rows per output file before a partition is split into several files (Spark's maxRecordsPerFile).
MAX_RECORDS_PER_FILE = 5_000_000

# Contract field type -> Hive type of the curated column (the catalog's and the manifest's names).
HIVE_TYPES = {
    "string": "string",
    "integer": "bigint",
    "number": "double",
    "boolean": "boolean",
    "date": "date",
    "datetime": "timestamp",  # an instant, stored UTC-adjusted
    "time": "string",
    "year": "int",
}


@dataclass(frozen=True)
class Lineage:
    """Where a run's rows came from; stamped on every curated row as LINEAGE_COLUMNS."""

    ingest_id: str
    source_key: str | None
    ingested_at: datetime


def snake_case(name: str) -> str:
    """`Offer ID`, `offerId`, `offer-id` -> `offer_id`; a leading digit gets a `_` prefix."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name.strip())
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    if not s:
        raise StagingSchemaError(f"column name {name!r} has no letters or digits")
    return f"_{s}" if s[0].isdigit() else s


def partitions_of(files: Sequence[str]) -> list[str]:
    """The partition directories (`year=2025/month=3`) holding `files` (paths relative to the table), sorted:
    the manifest's `partitions`."""
    return sorted({f.rsplit("/", 1)[0] for f in files if "/" in f})


def partition_dir_text(text: str | None) -> str:
    """A partition value's text (Spark's cast to string) as Spark's writer names its directory: escaped, and
    `__HIVE_DEFAULT_PARTITION__` for null and the empty string (which the writer turns into null)."""
    if not text:
        return HIVE_NULL_PARTITION
    return "".join(f"%{ord(c):02X}" if c in PATH_ESCAPED else c for c in text)


def partition_dir(columns: Sequence[str], texts: Sequence[str | None]) -> str:
    """`year=2025/month=3`: the partition directory of one row's partition column values (as text)."""
    return "/".join(
        f"{partition_dir_text(c)}={partition_dir_text(t)}" for c, t in zip(columns, texts, strict=True)
    )


def staging_partition(ingest_id: str) -> str:
    """The staging partition directory of one run: `ingest_id=<id>`."""
    return f"{STAGING_PARTITION_KEY}={ingest_id}"


def snake_case_columns(columns: Sequence[str]) -> list[str]:
    """Staging column names in lower snake case; two columns that end up with one name are an error."""
    names = [snake_case(c) for c in columns]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        pairs = "; ".join(
            f"{n} <- {[c for c, m in zip(columns, names, strict=True) if m == n]}" for n in clashes
        )
        raise StagingSchemaError(f"staging columns collide after normalising names: {pairs}")
    return names


def raise_if_staging_contradicts(missing: Sequence[str], wrong: Sequence[str]) -> None:
    """Raises StagingSchemaError naming the contract columns staging lacks (`missing`) and those whose staging
    type the contract's cannot take (`wrong`: `name (staging type, contract says type)`), if any."""
    problems = [f"missing columns: {', '.join(missing)}"] if missing else []
    problems += [f"types that cannot be cast: {', '.join(wrong)}"] if wrong else []
    if problems:
        raise StagingSchemaError("staging data contradicts the contract: " + "; ".join(problems))
