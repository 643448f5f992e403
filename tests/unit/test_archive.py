"""Archive: the upload moves to archive/<dataset>/yyyy/mm/dd/, the run SUCCEEDS; reruns change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from steps_aws import SETTINGS, Aws, claim_run, emulated_aws, import_handler, lambda_context

from events import load_event
from sluice_lib.errors import DuplicateExecutionError, SourceObjectMissingError
from sluice_lib.models import ArchiveInput, SourceObject
from sluice_lib.steps.archive import archive_run

RAW = SETTINGS.raw_bucket
KEY = "incoming/offers/offers_2025-03-01.csv"
CSV = b"account,offer_id\n00000001,000000000001\n"


@pytest.fixture
def aws() -> Iterator[Aws]:
    with emulated_aws() as aws:
        yield aws


def uploaded_event(aws: Aws, body: bytes = CSV) -> dict[str, Any]:
    """events/archive.json for an upload made now: S3 assigns the version id the event must carry."""
    version = aws.s3.put_object(Bucket=RAW, Key=KEY, Body=body, ContentType="text/csv")["VersionId"]
    event = load_event("archive")
    event["run"]["source"]["version_id"] = version
    claim_run(aws, SourceObject.model_validate(event["run"]["source"]), event["run"]["execution_arn"])
    return event


def archived_key(aws: Aws, event: dict[str, Any]) -> str:
    """`archive/offers/<upload date>/<file>`: dated by the version's LastModified, whenever the run starts."""
    version = event["run"]["source"]["version_id"]
    uploaded = aws.s3.head_object(Bucket=RAW, Key=KEY, VersionId=version)["LastModified"]
    return f"archive/offers/{uploaded.astimezone(UTC):%Y/%m/%d}/offers_2025-03-01.csv"


def archive(aws: Aws, event: dict[str, Any]):
    return archive_run(
        ArchiveInput.model_validate(event), s3=aws.s3, ledger=aws.ledger, raw_bucket=RAW, region="us-east-1"
    )


def exists(aws: Aws, key: str) -> bool:
    return bool(aws.s3.list_objects_v2(Bucket=RAW, Prefix=key).get("KeyCount"))


def test_archive_moves_the_upload_version_to_its_dated_archive_key(aws: Aws):
    event = uploaded_event(aws)
    archived = archived_key(aws, event)

    result = archive(aws, event)

    assert archived.startswith("archive/offers/20")
    assert result.archive_uri == f"s3://{RAW}/{archived}"
    assert aws.s3.get_object(Bucket=RAW, Key=archived)["Body"].read() == CSV
    assert aws.s3.head_object(Bucket=RAW, Key=archived)["ContentType"] == "text/csv"
    assert not exists(aws, KEY)
    version = event["run"]["source"]["version_id"]
    kept = aws.s3.get_object(Bucket=RAW, Key=KEY, VersionId=version)["Body"].read()
    assert kept == CSV  # the delete left a marker; the raw version is still there


def test_archive_marks_the_run_succeeded_with_counts_and_archive_uri(aws: Aws):
    event = uploaded_event(aws)
    archived = archived_key(aws, event)

    archive(aws, event)

    item = aws.ledger.get(ArchiveInput.model_validate(event).run.source)
    assert item is not None
    assert item["status"] == "SUCCEEDED"
    assert item["counts"] == {"rows_in": 6, "rows_valid": 5, "rows_rejected": 1, "rows_loaded": 5}
    assert item["archive_uri"] == f"s3://{RAW}/{archived}"
    assert item["finished_at"].endswith("Z")


def test_archive_returns_the_success_notification(aws: Aws):
    event = uploaded_event(aws)
    archived = archived_key(aws, event)

    notification = archive(aws, event).notification

    assert notification.subject == "[sluice] SUCCEEDED offers: offers_2025-03-01.csv"
    body = notification.body
    assert body["status"] == "SUCCEEDED"
    assert body["source"] == f"s3://{RAW}/{KEY}"
    assert body["counts"] == {
        "rows_in": 6,
        "rows_valid": 5,
        "rows_rejected": 1,
        "rows_loaded": 5,
        "serving_items": 5,
    }
    assert body["outputs"] == {
        "curated_uri": "s3://sluice-lake-local/curated/offers/",
        "archive_uri": f"s3://{RAW}/{archived}",
        "quarantine_uri": f"s3://{RAW}/quarantine/offers/3f1c2b9e-7d4a-4e2f-9b1c-5a6d7e8f9012/bad_rows.csv",
    }
    assert body["error"] is None
    assert body["failed_state"] is None


def test_archive_rerun_is_a_no_op_with_the_same_archive_uri(aws: Aws):
    event = uploaded_event(aws)
    archived = archived_key(aws, event)
    first = archive(aws, event)

    second = archive(aws, event)

    assert second.archive_uri == first.archive_uri
    versions = aws.s3.list_object_versions(Bucket=RAW, Prefix=archived).get("Versions", [])
    assert len(versions) == 1  # not copied again
    markers = aws.s3.list_object_versions(Bucket=RAW, Prefix=KEY).get("DeleteMarkers", [])
    assert len(markers) == 1  # not deleted again


def test_archive_source_version_gone_and_not_archived_raises_source_object_missing(aws: Aws):
    event = uploaded_event(aws)
    aws.s3.delete_object(Bucket=RAW, Key=KEY, VersionId=event["run"]["source"]["version_id"])

    with pytest.raises(SourceObjectMissingError, match=KEY):
        archive(aws, event)


def test_archive_after_a_newer_upload_archives_this_version_and_leaves_the_newer_one(aws: Aws):
    event = uploaded_event(aws, body=CSV)
    archived = archived_key(aws, event)
    aws.s3.put_object(Bucket=RAW, Key=KEY, Body=b"account,offer_id\n")

    archive(aws, event)

    assert aws.s3.get_object(Bucket=RAW, Key=archived)["Body"].read() == CSV
    assert aws.s3.get_object(Bucket=RAW, Key=KEY)["Body"].read() == b"account,offer_id\n"


def test_archive_handler_with_sample_event_returns_archive_output(aws: Aws):
    event = uploaded_event(aws)
    archived = archived_key(aws, event)
    handler = import_handler("archive")

    result = handler.lambda_handler(event, lambda_context("archive"))

    assert result["archive_uri"] == f"s3://{RAW}/{archived}"
    assert result["notification"]["subject"] == "[sluice] SUCCEEDED offers: offers_2025-03-01.csv"
    assert result["notification"]["body"]["console_url"].startswith(
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/"
    )


def test_archive_rerun_after_the_upload_was_archived_on_another_day_finds_it_archived(aws: Aws):
    event = uploaded_event(aws)
    archived = archived_key(aws, event)
    archive(aws, event)
    rerun = {**event, "run": {**event["run"], "started_at": "2031-12-31T23:59:59.000Z"}}
    rerun["run"]["execution_arn"] = event["run"]["execution_arn"].replace("3f1c2b9e", "99999999")
    claim_run(aws, SourceObject.model_validate(event["run"]["source"]), rerun["run"]["execution_arn"])

    result = archive(aws, rerun)

    assert result.archive_uri == f"s3://{RAW}/{archived}"
    assert aws.s3.list_objects_v2(Bucket=RAW, Prefix="archive/offers/2031/").get("KeyCount") == 0


def test_archive_key_deleted_by_hand_archives_the_runs_version_from_history(aws: Aws):
    event = uploaded_event(aws)
    archived = archived_key(aws, event)
    aws.s3.delete_object(Bucket=RAW, Key=KEY)  # a delete marker: the version stays in the history

    result = archive(aws, event)

    assert result.archive_uri == f"s3://{RAW}/{archived}"
    assert aws.s3.get_object(Bucket=RAW, Key=archived)["Body"].read() == CSV


def test_archive_by_an_execution_that_no_longer_owns_the_run_raises_duplicate_and_moves_nothing(aws: Aws):
    event = uploaded_event(aws)
    newer = event["run"]["execution_arn"].replace("3f1c2b9e", "99999999")
    aws.ledger.update(SourceObject.model_validate(event["run"]["source"]), "FAILED")  # the first run failed
    claim_run(aws, SourceObject.model_validate(event["run"]["source"]), newer)  # a rerun took over

    with pytest.raises(DuplicateExecutionError, match="99999999"):
        archive(aws, event)

    assert exists(aws, KEY)
    assert aws.s3.list_objects_v2(Bucket=RAW, Prefix="archive/").get("KeyCount") == 0


def test_archive_after_a_fanned_out_load_counts_the_serving_items_every_batch_left_in_s3(aws: Aws):
    event = uploaded_event(aws)
    event["load"].update(serving_items=0, fanned_out=True, serving_batches=2)
    output = event["run"]["output_uri"].removeprefix(f"s3://{SETTINGS.lake_bucket}/")
    for index, body in enumerate(
        [
            '{"index": 0, "files": 2, "rows": 3, "serving_items": 3}',
            '{"index": 1, "files": 1, "rows": 4, "serving_items": 4}',
        ]
    ):
        key = f"{output}_serving_results/{index:06d}.json"
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key=key, Body=body.encode())

    notification = archive(aws, event).notification

    assert notification.body["counts"]["serving_items"] == 7
    item = aws.ledger.get(SourceObject.model_validate(event["run"]["source"]))
    assert item is not None and item["serving_items"] == 7
