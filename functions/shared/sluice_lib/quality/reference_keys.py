"""The keys of another dataset's curated table, read column-wise: only the Parquet footers and the key column's
chunks are fetched (ranged GETs), never the other columns."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sluice_lib.errors import CatalogUpdateError, ReferenceDatasetMissingError
from sluice_lib.raw import parse_s3_uri
from sluice_lib.s3_range_file import S3RangeFile


def _locations(glue: Any, database: str, dataset: str) -> list[str]:
    """The table's data folders: its partitions' locations, or its own location when unpartitioned."""
    try:
        table = glue.get_table(DatabaseName=database, Name=dataset)["Table"]
    except glue.exceptions.EntityNotFoundException:
        raise ReferenceDatasetMissingError(
            f"a quality rule checks keys against {database}.{dataset}, which is not in the catalog yet: "
            f"upload a {dataset} file first, then redrive this execution"
        ) from None
    if not table.get("PartitionKeys"):
        location = table.get("StorageDescriptor", {}).get("Location")
        if not location:
            raise CatalogUpdateError(f"{database}.{dataset} has no StorageDescriptor.Location")
        return [location]
    locations = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=dataset):
        locations += [p["StorageDescriptor"]["Location"] for p in page["Partitions"]]
    return locations


def curated_keys(s3: Any, glue: Any, database: str, dataset: str, column: str) -> pa.Array:
    """The distinct non-null values of `column` over every Parquet file of the dataset's curated table."""
    chunks: list[pa.Array] = []
    for location in _locations(glue, database, dataset):
        bucket, prefix = parse_s3_uri(location.rstrip("/") + "/")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith(".parquet") or obj["Size"] == 0:
                    continue
                with S3RangeFile(s3, bucket, obj["Key"], obj["Size"]) as raw:
                    parquet = pq.ParquetFile(raw)
                    if column not in parquet.schema_arrow.names:
                        raise CatalogUpdateError(
                            f"s3://{bucket}/{obj['Key']}: the curated {dataset} file has no column {column!r}"
                        )
                    chunks.append(pc.unique(parquet.read(columns=[column]).column(0).combine_chunks()))
    if not chunks:
        return pa.array([])
    return pc.unique(pa.chunked_array(chunks).combine_chunks()).drop_null()
