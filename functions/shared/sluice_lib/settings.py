"""Configuration read from the Lambda environment (set by template.sam.yaml); missing variables fail fast."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sluice_lib.contracts import ContractStore


def require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (it comes from template.sam.yaml)")
    return value


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    lake_bucket: str
    bad_records_queue_url: str
    runs_table: str
    serving_table: str
    glue_database: str
    topic_arn: str
    contracts_dir: Path
    # Validate only (SmallFileMaxBytes): objects up to this size go to the Lambda engine; 0 or unset: never.
    small_file_max_bytes: int = 0
    # Validate only (ValidateChunkBytes): an uncompressed object over this size is validated in byte ranges of
    # this size by the fan-out states; 0 or unset: never.
    validate_chunk_bytes: int = 0
    # Validate only (ValidateGzipMaxBytes): a gzip object over this size is rejected (FileTooLargeError); 0: no limit.
    validate_gzip_max_bytes: int = 0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            raw_bucket=require_env("RAW_BUCKET"),
            lake_bucket=require_env("LAKE_BUCKET"),
            bad_records_queue_url=require_env("BAD_RECORDS_QUEUE_URL"),
            runs_table=require_env("RUNS_TABLE"),
            serving_table=require_env("SERVING_TABLE"),
            glue_database=require_env("GLUE_DATABASE"),
            topic_arn=require_env("TOPIC_ARN"),
            contracts_dir=Path(require_env("CONTRACTS_DIR")),
            small_file_max_bytes=int(os.environ.get("SMALL_FILE_MAX_BYTES") or 0),
            validate_chunk_bytes=int(os.environ.get("VALIDATE_CHUNK_BYTES") or 0),
            validate_gzip_max_bytes=int(os.environ.get("VALIDATE_GZIP_MAX_BYTES") or 0),
        )

    def contracts(self) -> ContractStore:
        return ContractStore(self.contracts_dir)


def staging_table(dataset: str) -> str:
    return f"staging_{dataset}"


def staging_prefix(dataset: str, ingest_id: str) -> str:
    return f"staging/{dataset}/ingest_id={ingest_id}/"


def run_output_prefix(dataset: str, run_id: str) -> str:
    """Where the transform writes a run's output before Load publishes it (write-audit-publish)."""
    return f"runs/{dataset}/{run_id}/"


def curated_prefix(dataset: str) -> str:
    return f"curated/{dataset}/"
