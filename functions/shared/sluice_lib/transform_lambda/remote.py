"""A keyed curated table in S3 as the DuckDB merge reads it (TransformInLambda): the key columns of every current
file, fetched with ranged GETs (the footer and the key column chunks, nothing else), and the whole files of a
partition only when the merge reads it. So the bytes a merge fetches grow with the partitions it touches (plus
the key columns), not with the table, and the function's /tmp holds no more than that.

The function has DuckDB but no pyarrow, so a file's key columns are kept as a sparse copy of the file: its
size, its magic, its footer (which `parquet_metadata` reads to locate the column chunks) and the key columns'
chunks at their offsets, holes elsewhere. DuckDB reads a column's chunks and the footer only, so a scan of the
key columns reads exactly what was fetched; the holes take no disk."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb

from sluice_lib.errors import TransformOutputInvalidError
from sluice_lib.raw import parse_s3_uri

WORKERS = 16  # S3 requests in flight: each is latency-bound
TAIL_BYTES = 64 * 1024  # the first GET of a file's end: its footer, whole in most files
MAGIC = b"PAR1"


def _get(s3: Any, bucket: str, key: str, first: int, last: int) -> bytes:
    body: bytes = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")["Body"].read()
    return body


def fetch_key_columns(s3: Any, uri: str, target: Path, keys: Sequence[str]) -> None:
    """Writes at `target` a sparse copy of the Parquet file at `uri` holding its footer and the column chunks of
    `keys`: one HEAD, one or two GETs for the footer, one GET per key column chunk."""
    bucket, key = parse_s3_uri(uri)
    size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    if size < 12:
        raise TransformOutputInvalidError(f"{uri}: {size} bytes is not a Parquet file")
    tail = _get(s3, bucket, key, max(0, size - TAIL_BYTES), size - 1)
    if tail[-4:] != MAGIC:
        raise TransformOutputInvalidError(f"{uri}: not a Parquet file (no PAR1 at its end)")
    need = int.from_bytes(tail[-8:-4], "little") + 8
    if need > len(tail):
        tail = _get(s3, bucket, key, size - need, size - 1)
    with target.open("wb") as out:
        out.truncate(size)
        out.write(MAGIC)
        out.seek(size - len(tail))
        out.write(tail)
    with duckdb.connect() as con:
        chunks = con.execute(
            "SELECT path_in_schema, data_page_offset, dictionary_page_offset, total_compressed_size "
            "FROM parquet_metadata(?)",
            [str(target)],
        ).fetchall()
    spans = [
        (min(o for o in (data, dictionary) if o), length)
        for column, data, dictionary, length in chunks
        if column in keys and length
    ]
    with target.open("r+b") as out:
        for start, length in spans:
            out.seek(start)
            out.write(_get(s3, bucket, key, start, start + length - 1))


class RemoteTable(Mapping[str, list[str]]):
    """Partition -> local paths of its current files, downloaded on first access (in parallel), under `folder`.

    `files` is the table as the catalog presents it (sluice_lib.catalog_files.current_files: `s3://` URIs).
    Iterating lists the partitions without downloading anything."""

    def __init__(self, s3: Any, files: Mapping[str, Sequence[str]], folder: Path) -> None:
        self._s3 = s3
        self._files = {p: list(uris) for p, uris in files.items()}
        self._folder = folder
        self._order = {p: n for n, p in enumerate(sorted(self._files))}
        self._local: dict[str, list[str]] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, partition: str) -> list[str]:
        if partition not in self._local:
            where = self._folder / "whole" / f"{self._order[partition]:05d}"
            where.mkdir(parents=True, exist_ok=True)
            targets = [
                where / f"{i:05d}-{uri.rsplit('/', 1)[-1]}" for i, uri in enumerate(self._files[partition])
            ]
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                list(pool.map(self._download, self._files[partition], targets))
            self._local[partition] = [str(t) for t in targets]
        return self._local[partition]

    @property
    def downloaded(self) -> list[str]:
        """The partitions whose whole files were fetched, sorted."""
        return sorted(self._local)

    def _download(self, uri: str, target: Path) -> None:
        bucket, key = parse_s3_uri(uri)
        self._s3.download_file(bucket, key, str(target))

    def key_files(self, keys: Sequence[str]) -> dict[str, str]:
        """Local sparse copies of every current file holding only its footer and the `keys` columns' chunks
        (`fetch_key_columns`), fetched in parallel -> the partition of the file each mirrors."""
        folder = self._folder / "keys"
        folder.mkdir(parents=True, exist_ok=True)
        jobs = [
            (partition, uri, folder / f"{n:07d}.parquet")
            for n, (partition, uri) in enumerate(
                (p, u) for p, uris in sorted(self._files.items()) for u in uris
            )
        ]

        def fetch(job: tuple[str, str, Path]) -> None:
            fetch_key_columns(self._s3, job[1], job[2], keys)

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(fetch, jobs))
        return {str(target): partition for partition, _, target in jobs}
