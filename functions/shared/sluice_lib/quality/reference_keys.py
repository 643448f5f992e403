"""The keys of another dataset's curated table, read column-wise: only the Parquet footers and the key column's
chunks are fetched (ranged GETs), never the other columns."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sluice_lib.errors import CatalogUpdateError, ReferenceDatasetMissingError
from sluice_lib.raw import parse_s3_uri


class S3RangeFile(io.RawIOBase):
    """A seekable read-only view of one S3 object; each read is one ranged GetObject.

    pyarrow reads a Parquet file through it as it reads a local one: the footer, then the chunks of the
    columns asked for (a few GETs per row group), so a key column of a wide table costs that column's bytes.
    """

    def __init__(self, s3: Any, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._s3, self._bucket, self._key, self._size = s3, bucket, key, size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        end = self._pos + want - 1
        body = self._s3.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._pos}-{end}")[
            "Body"
        ]
        data = body.read()
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


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
