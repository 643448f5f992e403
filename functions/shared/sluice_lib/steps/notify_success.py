"""NotifySuccess: the message of the state that ends a successful run.

The state is a native `sns:publish` Task (no Lambda of its own): Archive, the last Lambda step, calls
`success_notification` and returns the message as `$.archive.result.notification`, whose `subject` and `body`
the state publishes (`body` as JSON text, with the `status` and `dataset` message attributes the ASL sets).
Every notification, failures' included, follows the one schema of sluice_lib.notify.
"""

from __future__ import annotations

from typing import Any

from sluice_lib.models import LoadOutput, Notification, ValidateOutput
from sluice_lib.notify import build_notification


def success_notification(
    run: ValidateOutput,
    load: LoadOutput,
    *,
    counts: dict[str, Any],
    archive_uri: str,
    finished_at: str,
    region: str,
) -> Notification:
    """The SUCCEEDED message: the run's counts, the curated, archive and quarantine locations, the console link."""
    return build_notification(
        status="SUCCEEDED",
        dataset=run.dataset,
        source=run.source,
        counts=counts,
        started_at=run.started_at,
        execution_arn=run.execution_arn,
        region=region,
        outputs={
            "curated_uri": load.curated_uri,
            "archive_uri": archive_uri,
            "quarantine_uri": run.quarantine_uri,
        },
        error=None,
        finished_at=finished_at,
        extra_columns=run.extra_columns,
        quality=[q.model_dump() for q in run.quality],
    )
