"""Step 6 (DataFrame -> DataFrame): the lineage columns, `_row_hash` over the contract's fields."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


def _hash_text(column: str, data_type: T.DataType) -> Column:
    """Length-prefixed text of one value (`5:hello`), `-` for null: unambiguous once concatenated."""
    col = F.col(column)
    if isinstance(data_type, T.TimestampType):
        text = F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    else:
        text = col.cast("string")
    prefixed = F.concat(F.length(text).cast("string"), F.lit(":"), text)
    return F.when(col.isNull(), F.lit("-")).otherwise(prefixed)


def add_lineage(
    df: DataFrame,
    *,
    ingest_id: str,
    source_key: str | None,
    ingested_at: datetime,
    hash_columns: Sequence[str],
) -> DataFrame:
    """Adds `_ingest_id`, `_source_key`, `_ingested_at` (UTC) and `_row_hash` (sluice_lib.curated.LINEAGE_COLUMNS).

    `_row_hash` = hex sha2-256 of the concatenated `_hash_text` of `hash_columns` in the given order:
    strings as they are, numbers and booleans as Spark casts them to string, dates `yyyy-MM-dd`,
    timestamps `yyyy-MM-ddTHH:mm:ss.ffffffZ`.
    """
    if ingested_at.tzinfo is None:
        raise ValueError("ingested_at must be timezone-aware")
    types = {f.name: f.dataType for f in df.schema.fields}
    unknown = [c for c in hash_columns if c not in types]
    if unknown:
        raise ValueError(f"hash columns not in the DataFrame: {', '.join(unknown)}")
    return df.withColumns(
        {
            "_ingest_id": F.lit(ingest_id).cast("string"),
            "_source_key": F.lit(source_key).cast("string"),
            "_ingested_at": F.lit(ingested_at.astimezone(UTC)).cast("timestamp"),
            "_row_hash": F.sha2(F.concat(*(_hash_text(c, types[c]) for c in hash_columns)), 256),
        }
    )
