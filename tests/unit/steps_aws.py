"""Emulated AWS for the step tests: the template's buckets, tables, queue, topic and Glue database in moto."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import yaml
from moto import mock_aws

from sluice_lib.ledger import Ledger
from sluice_lib.models import SourceObject
from sluice_lib.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
TEMPLATE = ROOT / "template.sam.yaml"
SETTINGS = Settings(
    raw_bucket="sluice-raw-local",
    lake_bucket="sluice-lake-local",
    bad_records_queue_url=f"https://sqs.{REGION}.amazonaws.com/123456789012/sluice-local-bad-records",
    runs_table="sluice-local-runs",
    serving_table="sluice-local-serving",
    glue_database="sluice_local",
    topic_arn=f"arn:aws:sns:{REGION}:123456789012:sluice-local-notifications",
    contracts_dir=ROOT / "contracts",
)
ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "RAW_BUCKET": SETTINGS.raw_bucket,
    "LAKE_BUCKET": SETTINGS.lake_bucket,
    "BAD_RECORDS_QUEUE_URL": SETTINGS.bad_records_queue_url,
    "RUNS_TABLE": SETTINGS.runs_table,
    "SERVING_TABLE": SETTINGS.serving_table,
    "GLUE_DATABASE": SETTINGS.glue_database,
    "TOPIC_ARN": SETTINGS.topic_arn,
    "CONTRACTS_DIR": str(SETTINGS.contracts_dir),
    "CURATED_VERSION_RETENTION_DAYS": "7",
    "MERGE_LEASE_SECONDS": "600",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "sluice",
    "POWERTOOLS_SERVICE_NAME": "sluice",
}


@dataclass
class Aws:
    s3: Any
    glue: Any
    dynamodb: Any
    sns: Any
    sqs: Any
    inbox_url: str  # an SQS queue subscribed to the topic: what a person subscribed by mail would get

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.dynamodb, SETTINGS.runs_table)

    def notifications(self) -> list[dict[str, Any]]:
        """Messages published to the topic so far (and not read before): subject, body, attributes."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return found
            for message in batch:
                envelope = json.loads(message["Body"])
                found.append(
                    {
                        "subject": envelope.get("Subject"),
                        "body": json.loads(envelope["Message"]),
                        "attributes": {
                            k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()
                        },
                    }
                )
                self.sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])


def _table(dynamodb: Any, name: str, resource: str) -> None:
    """The table as template.sam.yaml's `resource` defines its keys and indexes (one source of truth)."""
    spec = template_resources()[resource]["Properties"]
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=spec["AttributeDefinitions"],
        KeySchema=spec["KeySchema"],
        **(
            {"GlobalSecondaryIndexes": spec["GlobalSecondaryIndexes"]}
            if "GlobalSecondaryIndexes" in spec
            else {}
        ),
    )


def template_resources() -> dict[str, Any]:
    """template.sam.yaml's Resources, read with CloudFormation's short tags kept as plain values."""

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tag)
    resources: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=Loader)["Resources"]
    return resources


_SESSION: list[boto3.Session] = []


def _session() -> boto3.Session:
    """One session for all tests: it keeps botocore's parsed service models (moto resets the default one)."""
    if not _SESSION:
        _SESSION.append(boto3.Session(region_name=REGION))
    return _SESSION[0]


@contextmanager
def emulated_aws() -> Iterator[Aws]:
    """What the steps touch, as template.sam.yaml declares it (versioned buckets, pk/sk tables)."""
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    try:
        with mock_aws():
            aws = Aws(
                s3=_session().client("s3"),
                glue=_session().client("glue"),
                dynamodb=_session().client("dynamodb"),
                sns=_session().client("sns"),
                sqs=_session().client("sqs"),
                inbox_url="",
            )
            for bucket in (SETTINGS.raw_bucket, SETTINGS.lake_bucket):
                aws.s3.create_bucket(Bucket=bucket)
                aws.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            _table(aws.dynamodb, SETTINGS.runs_table, "RunsTable")
            _table(aws.dynamodb, SETTINGS.serving_table, "ServingTable")
            aws.sqs.create_queue(QueueName=SETTINGS.bad_records_queue_url.rsplit("/", 1)[-1])
            aws.glue.create_database(DatabaseInput={"Name": SETTINGS.glue_database})
            aws.sns.create_topic(Name=SETTINGS.topic_arn.rsplit(":", 1)[-1])
            aws.inbox_url = aws.sqs.create_queue(QueueName="notification-inbox")["QueueUrl"]
            inbox_arn = aws.sqs.get_queue_attributes(QueueUrl=aws.inbox_url, AttributeNames=["QueueArn"])
            aws.sns.subscribe(
                TopicArn=SETTINGS.topic_arn, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"]
            )
            yield aws
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def import_handler(function: str) -> ModuleType:
    """functions/<function>/app.py as a fresh module (every handler file is named app.py)."""
    path = ROOT / "functions" / function / "app.py"
    spec = spec_from_file_location(f"handler_{function}", path)
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_context(function: str) -> Any:
    """The attributes of the Lambda context that Powertools reads."""
    return SimpleNamespace(
        function_name=f"sluice-local-{function}",
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:sluice-local-{function}",
        memory_limit_in_mb=512,
        aws_request_id="6f1b3c0e-8a2d-4e5f-9b7c-0d1e2f3a4b5c",
        log_group_name=f"/aws/lambda/sluice-local-{function}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: 60_000,
    )


def claim_run(
    aws: Aws, source: SourceObject, execution_arn: str, started_at: str = "2025-03-01T12:00:01.234Z"
) -> None:
    """What Validate does first: the execution claims the object version's ledger item."""
    aws.ledger.claim(
        source,
        execution_arn=execution_arn,
        run_id=execution_arn.rsplit(":", 1)[-1],
        started_at=started_at,
        sfn=_session().client("stepfunctions"),
    )
