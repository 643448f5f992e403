"""Locations the job reads and writes: `s3://` URIs on Glue, local paths (or `file://`) on the local runtime."""

from __future__ import annotations

import re
from pathlib import Path


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://", "s3n://"))


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    return bucket, key


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def same_location(a: str, b: str) -> bool:
    """Whether two URIs name one folder (`s3a://x/y/` is `s3://x/y`)."""

    def norm(uri: str) -> str:
        return re.sub(r"^s3[an]?://", "s3://", uri).rstrip("/")

    return norm(a) == norm(b)
