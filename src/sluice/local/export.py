"""Exports what a local run produced (buckets, queue, tables, notifications) to plain files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from sluice_lib.catalog_files import current_locations, files_at
from sluice_lib.lease import LEASE_PREFIX

if TYPE_CHECKING:
    from sluice.local.emulator import Emulator

# (folder in --out, bucket attribute of the stack, key prefix); `curated` is exported from the catalog
_S3_EXPORTS = (
    ("quality", "lake_bucket", "quality/"),
    ("quarantine", "raw_bucket", "quarantine/"),
    ("archive", "raw_bucket", "archive/"),
    ("rejected", "raw_bucket", "rejected/"),
    ("incoming", "raw_bucket", "incoming/"),
)


def read_queue(sqs: Any, url: str, keep: bool = True) -> list[dict[str, Any]]:
    """Every message of a queue, bodies parsed as JSON where they are JSON.

    With keep=True the messages stay in the queue: they are received with a visibility timeout of zero
    seconds after all were seen, so a later reader (an operator, the export) finds them again.
    """
    seen: dict[str, dict[str, Any]] = {}
    handles: list[str] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not batch:
            break
        for msg in batch:
            handles.append(msg["ReceiptHandle"])
            try:
                body: Any = json.loads(msg["Body"])
            except json.JSONDecodeError:
                body = msg["Body"]
            attrs = {k: v.get("StringValue") for k, v in msg.get("MessageAttributes", {}).items()}
            seen[msg["MessageId"]] = {"message_id": msg["MessageId"], "attributes": attrs, "body": body}
    for handle in handles:
        if keep:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        else:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    return list(seen.values())


def _download(s3: Any, bucket: str, prefix: str, dest: Path) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            target = dest / obj["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))


def export_curated(s3: Any, glue: Any, database: str, lake_bucket: str, dest: Path) -> list[str]:
    """The curated and gold tables as the catalog presents them: each partition's current files under
    `dest/<table>/<partition>/` (a keyed table's superseded versions left out, docs/merge.md); returns the
    files' paths relative to `dest`."""
    root = f"s3://{lake_bucket}/curated/"
    written = []
    for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
        for table in page["TableList"]:
            if not table.get("StorageDescriptor", {}).get("Location", "").startswith(root):
                continue
            for partition, location in sorted(current_locations(glue, database, table["Name"]).items()):
                for uri in files_at(s3, location):
                    bucket, key = uri[len("s3://") :].split("/", 1)
                    relative = "/".join(p for p in (table["Name"], partition, key.rsplit("/", 1)[-1]) if p)
                    target = dest / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, key, str(target))
                    written.append(relative)
    return sorted(written)


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    deserializer = TypeDeserializer()
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            items.append({k: deserializer.deserialize(v) for k, v in item.items()})
    return sorted(items, key=lambda i: (str(i.get("pk")), str(i.get("sk"))))


def _notification(message: dict[str, Any]) -> dict[str, Any]:
    body = message["body"]
    if isinstance(body, dict) and "Message" in body:  # the SNS envelope
        try:
            payload: Any = json.loads(body["Message"])
        except json.JSONDecodeError:
            payload = body["Message"]
        return {"subject": body.get("Subject"), "message": payload}
    return {"subject": None, "message": body}


def export_outputs(emu: Emulator, out_dir: Path) -> dict[str, str]:
    """Writes the run's results under out_dir and returns their paths (the summary's `outputs`)."""
    s3 = emu.client("s3")
    outputs: dict[str, str] = {}
    curated = out_dir / "curated"
    if curated.exists():
        shutil.rmtree(curated)
    curated.mkdir(parents=True)
    export_curated(s3, emu.client("glue"), emu.stack.glue_database, emu.stack.lake_bucket, curated)
    outputs["curated"] = str(curated)
    for folder, bucket_attr, prefix in _S3_EXPORTS:
        dest = out_dir / folder
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        _download(s3, getattr(emu.stack, bucket_attr), prefix, dest)
        outputs[folder] = str(dest)
    sqs = emu.client("sqs")
    dlq = read_queue(sqs, emu.stack.queue_url, keep=True)
    _write_jsonl(out_dir / "dlq.jsonl", dlq)
    outputs["dlq"] = str(out_dir / "dlq.jsonl")
    notes = [_notification(m) for m in read_queue(sqs, emu.tap_url, keep=True)]
    _write_jsonl(out_dir / "notifications.jsonl", notes)
    outputs["notifications"] = str(out_dir / "notifications.jsonl")
    ddb = emu.client("dynamodb")
    _write_jsonl(out_dir / "serving.jsonl", _scan(ddb, emu.stack.serving_table))
    outputs["serving"] = str(out_dir / "serving.jsonl")
    runs = _scan(ddb, emu.stack.runs_table)
    # The runs table also holds each keyed dataset's merge lease, publish generation and recorded rollbacks
    # (`lease#<dataset>`, sluice_lib.lease and sluice_lib.rollback): they are not runs, and go to their own file.
    leases = [item for item in runs if str(item.get("pk", "")).startswith(LEASE_PREFIX)]
    _write_jsonl(out_dir / "ledger.jsonl", [item for item in runs if item not in leases])
    outputs["ledger"] = str(out_dir / "ledger.jsonl")
    _write_jsonl(out_dir / "leases.jsonl", leases)
    outputs["leases"] = str(out_dir / "leases.jsonl")
    outputs["logs"] = str(out_dir / "logs")
    return outputs
