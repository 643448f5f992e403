"""Test harness for Validate: emulated AWS, and helpers to upload files and read what Validate left."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from steps_aws import SETTINGS, Aws

from sluice_lib.contracts import ContractStore
from sluice_lib.ledger import Ledger
from sluice_lib.models import Execution, SourceObject, ValidateOutput
from sluice_lib.settings import Settings
from sluice_lib.validate import validate_object

RUN_ID = "5b0c9e2a-1f3d-4a6b-8c7e-9d0f1a2b3c4d"
OFFERS_HEADER = "account,offer_id,catalog_id,account_type_code,offer_type_id,created,expire,risk"


def offers_row(**changes: str) -> str:
    """A good offers row as CSV text, with some values changed."""
    values = {
        "account": "12345678",
        "offer_id": "123456789012",
        "catalog_id": "123456789012345678",
        "account_type_code": "AB",
        "offer_type_id": "87654321",
        "created": "2025-01-02T03:04:05.123456+00:00",
        "expire": "2025-06-01T00:00:00+00:00",
        "risk": "low",
    }
    values.update(changes)
    return ",".join(values.values())


def offers_file(*rows: str, newline: str = "\n") -> bytes:
    return newline.join([OFFERS_HEADER, *rows, ""]).encode()


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


@dataclass
class ValidateWorld:
    aws: Aws
    settings: Settings = SETTINGS

    @property
    def queue_url(self) -> str:
        return self.settings.bad_records_queue_url

    def put(self, name: str, data: bytes, dataset: str = "offers") -> SourceObject:
        key = f"incoming/{dataset}/{name}"
        response = self.aws.s3.put_object(Bucket=self.settings.raw_bucket, Key=key, Body=data)
        return SourceObject(
            bucket=self.settings.raw_bucket,
            key=key,
            version_id=response.get("VersionId"),
            etag=response["ETag"].strip('"'),
            size=len(data),
        )

    def validate(
        self,
        source: SourceObject,
        contracts: ContractStore | None = None,
        run_id: str = RUN_ID,
        sqs: Any = None,
    ) -> ValidateOutput:
        execution = Execution(
            Id=f"arn:aws:states:us-east-1:123456789012:execution:sluice-local-pipeline:{run_id}",
            Name=run_id,
            StartTime="2025-03-01T12:00:01.234Z",
        )
        return validate_object(
            source=source,
            execution=execution,
            contracts=contracts or self.settings.contracts(),
            settings=self.settings,
            s3=self.aws.s3,
            sqs=sqs or self.aws.sqs,
            glue=self.aws.glue,
            ledger=Ledger(self.aws.dynamodb, self.settings.runs_table),
        )

    def read(self, uri: str) -> bytes:
        bucket, key = split_uri(uri)
        return bytes(self.aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def keys(self, bucket: str, prefix: str) -> list[str]:
        listed = self.aws.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for o in listed.get("Contents", [])]

    def staging_table(self, out: ValidateOutput) -> pa.Table:
        return pq.read_table(io.BytesIO(self.read(out.staging_uri + "part-00000.parquet")))

    def staging_rows(self, out: ValidateOutput) -> list[dict[str, Any]]:
        return list(self.staging_table(out).to_pylist())

    def quarantine(self, out: ValidateOutput) -> list[dict[str, str]]:
        assert out.quarantine_uri is not None
        text = self.read(out.quarantine_uri).decode("utf-8")
        return list(csv.DictReader(io.StringIO(text, newline="")))

    def quarantine_at(self, dataset: str, run_id: str = RUN_ID) -> list[dict[str, str]]:
        key = f"quarantine/{dataset}/{run_id}/bad_rows.csv"
        text = self.read(f"s3://{self.settings.raw_bucket}/{key}").decode("utf-8")
        return list(csv.DictReader(io.StringIO(text, newline="")))

    def dlq_messages(self) -> list[dict[str, Any]]:
        """Every message on the bad-records queue: {"body": <parsed JSON>, "attributes": {...}}."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.aws.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(
                    {
                        "body": json.loads(message["Body"]),
                        "attributes": {k: v["StringValue"] for k, v in message["MessageAttributes"].items()},
                    }
                )
                self.aws.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
