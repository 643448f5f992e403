"""Retention of a keyed table's superseded partition versions (docs/merge.md): a version folder the catalog no
longer names is kept for `CuratedVersionRetentionDays` after the version that replaced it was published, so a
partition can be rolled back to it (its location is in the ledger's `versions`), then deleted.

A partition directory holds its versions: the files directly in it (published by a plain append, before the
table was first merged) and version folders `v<yyyymmddThhmmssZ>-<run>/`, ordered by name, which is their
publish time. A version is superseded when the next one was published; the one the catalog names is current and
never deleted, and so are versions published after it (a Load that failed before its switch: its redrive
publishes the same version again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from sluice_lib.catalog_files import current_locations, split_location
from sluice_lib.lake import delete_files, list_keys

_VERSION = re.compile(r"^v(\d{8}T\d{6}Z)-")
DIRECT = ""  # the files directly in the partition directory


@dataclass(frozen=True)
class Version:
    name: str  # the folder name, or DIRECT
    published: datetime | None  # from the folder name; None for DIRECT (before any merge)
    keys: tuple[str, ...]


def versions_of(keys: list[str], partition_prefix: str) -> list[Version]:
    """The versions under a partition directory's prefix (`curated/<dataset>/<partition>/`), oldest first; keys
    in other subfolders (a partitioned table's partitions, seen from an unpartitioned prefix) are not versions."""
    found: dict[str, list[str]] = {}
    for key in keys:
        rest = key[len(partition_prefix) :]
        if "/" not in rest:
            found.setdefault(DIRECT, []).append(key)
            continue
        folder, _, name = rest.partition("/")
        if _VERSION.match(folder) and "/" not in name:
            found.setdefault(folder, []).append(key)
    ordered = sorted(found, key=lambda n: (n != DIRECT, n))
    return [Version(name, _published(name), tuple(sorted(found[name]))) for name in ordered]


def _published(name: str) -> datetime | None:
    match = _VERSION.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def expired(versions: list[Version], current: str | None, now: datetime, days: float) -> list[Version]:
    """The versions superseded more than `days` before `now`: those before the current one (`current`: its
    name, DIRECT, or None when the catalog names none, e.g. an emptied partition, when every version but the
    last is superseded), each superseded when the next was published."""
    names = [v.name for v in versions]
    if current is not None and current not in names:
        return []  # the catalog names a location that is not here: leave everything
    last = names.index(current) if current is not None else len(versions) - 1
    cutoff = now - timedelta(days=days)
    gone = []
    for older, newer in pairwise(versions[: last + 1]):
        if newer.published is not None and newer.published <= cutoff:
            gone.append(older)
    return gone


def remove_expired_versions(
    s3: Any,
    glue: Any,
    *,
    database: str,
    lake_bucket: str,
    dataset: str,
    partitions: list[str],
    days: float,
    now: datetime | None = None,
) -> list[str]:
    """Deletes the expired versions of the dataset's `partitions` (the ones a merge just changed); returns the
    deleted keys."""
    at = now or datetime.now(UTC)
    locations = current_locations(glue, database, dataset)
    deleted: list[str] = []
    for partition in partitions:
        prefix = f"curated/{dataset}/{partition}/" if partition else f"curated/{dataset}/"
        location = locations.get(partition)
        current = None
        if location is not None:
            _, key = split_location(location)
            rest = key[len(prefix) :].strip("/") if key.startswith(prefix) else None
            current = rest if rest is not None else "?"
        keys = [
            k
            for v in expired(versions_of(list_keys(s3, lake_bucket, prefix), prefix), current, at, days)
            for k in v.keys
        ]
        delete_files(s3, lake_bucket, keys, what="superseded curated versions")
        deleted += keys
    return deleted
