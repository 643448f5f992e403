"""The Transform job's library: the zip its `--extra-py-files` argument names (make build, make deploy, local stack)."""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sluice.commands.status import TargetError, resolve_target, samconfig_defaults

EXTRA_PY_FILES = "--extra-py-files"
JOB_OUTPUT = "TransformJobName"  # the stack output naming the template's TransformJob
JOB_PACKAGE = "sluice_transform"  # glue/sluice_transform/
# The sluice_lib modules the job imports, and no others: the rest of sluice_lib needs pydantic, which Glue does
# not have (tests/unit/test_curated_pure.py keeps these free of it, of Spark, boto3 and PyYAML).
SHARED_MODULES = (
    "sluice_lib/__init__.py",
    "sluice_lib/errors.py",
    "sluice_lib/curated.py",
    "sluice_lib/merge.py",
    "sluice_lib/catalog_files.py",
)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed, so the same sources make the same bytes


def library_files(root: Path) -> dict[str, Path]:
    """Name in the zip -> source file in the checkout at `root`."""
    files = {name: root / "functions" / "shared" / name for name in SHARED_MODULES}
    for path in sorted((root / "glue" / JOB_PACKAGE).glob("*.py")):
        files[f"{JOB_PACKAGE}/{path.name}"] = path
    return files


def build(root: Path) -> bytes:
    """The zip: packages at its root, as Glue puts it on the job's import path."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(library_files(root).items()):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def extra_py_files(arguments: Mapping[str, Any]) -> list[str]:
    """The locations a job's `--extra-py-files` argument lists (comma-separated, as Glue reads it)."""
    return [uri.strip() for uri in str(arguments.get(EXTRA_PY_FILES) or "").split(",") if uri.strip()]


def library_location(arguments: Mapping[str, Any]) -> tuple[str, str]:
    """(bucket, key) of the one zip the job's arguments name; a ValueError when they name none, several, or
    not an s3:// object."""
    uris = extra_py_files(arguments)
    if len(uris) != 1 or not uris[0].startswith("s3://") or uris[0].endswith("/"):
        raise ValueError(
            f"the Transform job's {EXTRA_PY_FILES} must name one s3:// object (the job's library), not {uris}"
        )
    bucket, _, key = uris[0].removeprefix("s3://").partition("/")
    return bucket, key


def upload(session: Any, job_name: str, body: bytes) -> str:
    """Puts the library where the deployed job's `--extra-py-files` says; returns that location.

    `sam deploy` uploads the job's ScriptLocation but no file its arguments name, so `make deploy` calls this
    after it: the deployed job's own argument (from the template) says where the zip goes.
    """
    arguments = session.client("glue").get_job(JobName=job_name)["Job"].get("DefaultArguments", {})
    bucket, key = library_location(arguments)
    session.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/zip")
    return f"s3://{bucket}/{key}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sluice.glue_library", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    make = verbs.add_parser("build", help="write the zip from this checkout's sources")
    make.add_argument("zip", type=Path)
    send = verbs.add_parser("upload", help="put a built zip where the deployed stack's job reads it")
    send.add_argument("zip", type=Path)
    send.add_argument("--config-env", default="default", help="the samconfig.toml environment sam deployed")
    options = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[2]
    if options.verb == "build":
        options.zip.parent.mkdir(parents=True, exist_ok=True)
        options.zip.write_bytes(build(root))
        print(f"{options.zip}: {len(library_files(root))} files")
        return 0
    saved = samconfig_defaults(root, options.config_env)
    try:
        target = resolve_target(None, saved.get("stack_name"), saved.get("region"))
        job_name = target.output(JOB_OUTPUT)
    except TargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{options.zip} -> {upload(target.session, job_name, options.zip.read_bytes())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
