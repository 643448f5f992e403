"""Retention of a keyed table's superseded partition versions (docs/merge.md): a version folder the catalog no
longer names is kept for `CuratedVersionRetentionDays` after the version that replaced it was published, so a
partition can be rolled back to it (its location is in the ledger's `versions`), then deleted.

A partition directory holds its versions: the files directly in it (published by a plain append, before the
table was first merged) and version folders `v<yyyymmddThhmmssZ>-<run>/`, ordered by name, which is their
publish time. A version is superseded when the next one was published; the one the catalog names is current and
never deleted, and so are versions published after it (a Load that failed before its switch: its redrive
publishes the same version again).

A rollback (sluice_lib.rollback) makes an older version current again and leaves a marker in it,
`_restored-<yyyymmddThhmmssZ>` (readers skip `_` files: Athena, Spark, sluice_lib.catalog_files): versions are
then ordered by when they last became current, not by name, so the versions it rolled away from are superseded at
the rollback, and the restored one when a later merge replaces it, each kept for the retention from then.
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
_RESTORED = re.compile(r"^_restored-(\d{8}T\d{6}Z)")
DIRECT = ""  # the files directly in the partition directory
_STAMP = "%Y%m%dT%H%M%SZ"


def is_version_folder(name: str) -> bool:
    """Whether a folder name is a merge's version folder (`v<yyyymmddThhmmssZ>-<run>`)."""
    return _VERSION.match(name) is not None


def restored_marker(at: datetime) -> str:
    """The name of the marker a rollback leaves in the version it makes current again."""
    return f"_restored-{at.astimezone(UTC).strftime(_STAMP)}"


@dataclass(frozen=True)
class Version:
    name: str  # the folder name, or DIRECT
    published: datetime | None  # from the folder name; None for DIRECT (before any merge)
    keys: tuple[str, ...]
    restored: datetime | None = None  # the last time a rollback made it current again (its newest marker)

    @property
    def current_since(self) -> datetime | None:
        """When it last became current: its publish, or a rollback's restore since (None: DIRECT, never restored)."""
        times = [t for t in (self.published, self.restored) if t is not None]
        return max(times) if times else None


def versions_of(keys: list[str], partition_prefix: str) -> list[Version]:
    """The versions under a partition directory's prefix (`curated/<dataset>/<partition>/`), by when they last
    became current, oldest first (by name when no rollback restored one); keys in other subfolders (a partitioned
    table's partitions, seen from an unpartitioned prefix) are not versions."""
    found: dict[str, list[str]] = {}
    for key in keys:
        rest = key[len(partition_prefix) :]
        if "/" not in rest:
            found.setdefault(DIRECT, []).append(key)
            continue
        folder, _, name = rest.partition("/")
        if _VERSION.match(folder) and "/" not in name:
            found.setdefault(folder, []).append(key)
    versions = [
        Version(name, _published(name), tuple(sorted(keys)), _restored(keys)) for name, keys in found.items()
    ]
    earliest = datetime.min.replace(tzinfo=UTC)
    return sorted(versions, key=lambda v: (v.current_since or earliest, v.name != DIRECT, v.name))


def _published(name: str) -> datetime | None:
    match = _VERSION.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)


def _restored(keys: list[str]) -> datetime | None:
    stamps = [m.group(1) for k in keys if (m := _RESTORED.match(k.rsplit("/", 1)[-1]))]
    return datetime.strptime(max(stamps), _STAMP).replace(tzinfo=UTC) if stamps else None


def expired(versions: list[Version], current: str | None, now: datetime, days: float) -> list[Version]:
    """The versions superseded more than `days` before `now`: those before the current one (`current`: its
    name, DIRECT, or None when the catalog names none, e.g. an emptied partition, when every version but the
    last is superseded), each superseded when the next became current (`versions` in versions_of's order)."""
    names = [v.name for v in versions]
    if current is not None and current not in names:
        return []  # the catalog names a location that is not here: leave everything
    last = names.index(current) if current is not None else len(versions) - 1
    cutoff = now - timedelta(days=days)
    gone = []
    for older, newer in pairwise(versions[: last + 1]):
        if newer.current_since is not None and newer.current_since <= cutoff:
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
