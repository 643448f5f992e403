"""The one notification schema, for succeeded, rejected and failed runs alike, and its SNS publication."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime
from typing import Any

from sluice_lib.models import Notification, NotificationStatus, SourceObject

# SNS wants a subject "less than 100 characters", printable, on one line.
SUBJECT_LIMIT = 99
# A Lambda error's Cause can reach 32 KiB with its stack trace; a mail needs the message.
CAUSE_LIMIT = 4000


def console_url(region: str, execution_arn: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


def readable_cause(cause: str | None) -> str:
    """The `errorMessage` of a Lambda error's JSON cause, else the cause itself; bounded in length."""
    text = cause or ""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        text = parsed["errorMessage"]
    return text if len(text) <= CAUSE_LIMIT else text[: CAUSE_LIMIT - 3] + "..."


def parse_time(value: str | None) -> datetime | None:
    """ISO-8601 (`Z` or offset; naive counts as UTC) to an aware datetime."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _one_line_ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "replace").decode("ascii")
    return "".join(ch if ch.isprintable() else " " for ch in folded)


def _shorten_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit <= 3:
        return text[:limit]
    head = (limit - 3 + 1) // 2
    return text[:head] + "..." + text[len(text) - (limit - 3 - head) :]


def _subject(status: str, dataset: str, file_name: str, failed_state: str | None) -> str:
    prefix = _one_line_ascii(f"[sluice] {status} {dataset}: ")
    suffix = _one_line_ascii(f" (at {failed_state})") if failed_state else ""
    room = SUBJECT_LIMIT - len(prefix) - len(suffix)
    subject = prefix + _shorten_middle(_one_line_ascii(file_name), max(room, 0)) + suffix
    return _shorten_middle(subject, SUBJECT_LIMIT)


def build_notification(
    *,
    status: NotificationStatus,
    dataset: str,
    source: SourceObject,
    counts: dict[str, Any],
    started_at: str | None,
    execution_arn: str,
    region: str,
    outputs: dict[str, Any],
    error: dict[str, Any] | None,
    failed_state: str | None = None,
    finished_at: str | None = None,
    extra_columns: list[str] | None = None,
    quality: list[dict[str, Any]] | None = None,
) -> Notification:
    """Builds the message every finished execution sends; `finished_at` defaults to now.

    `error` is `{"type", "cause"}` (a Lambda JSON cause is reduced to its message); `extra_columns` the upload's
    columns the contract does not name, which were dropped ([] when none, or not known). `quality` holds the
    run's quality results (sluice_lib.quality); when there are any, the body's `quality` line sums them up.
    """
    started = parse_time(started_at)
    finished = parse_time(finished_at) or datetime.now(UTC)
    duration = round((finished - started).total_seconds(), 3) if started else None
    body: dict[str, Any] = {
        "status": status,
        "dataset": dataset,
        "source": source.uri,
        "counts": counts,
        "duration_seconds": duration,
        "execution_arn": execution_arn,
        "console_url": console_url(region, execution_arn),
        "outputs": {name: uri for name, uri in outputs.items() if uri is not None},
        "error": (
            {"type": str(error.get("type") or ""), "cause": readable_cause(error.get("cause"))}
            if error
            else None
        ),
        "failed_state": failed_state,
        "extra_columns": list(extra_columns or []),
    }
    line = quality_line(quality or [])
    if line is not None:
        body["quality"] = line
    return Notification(subject=_subject(status, dataset, source.file_name, failed_state), body=body)


def quality_line(results: list[dict[str, Any]]) -> str | None:
    """`4 rules, 3 passed; failed: references(...) (warn): 12, allowed <= 0 rows` (None without results)."""
    if not results:
        return None
    failed = [r for r in results if not r.get("passed")]
    line = f"{len(results)} quality rules, {len(results) - len(failed)} passed"
    if failed:
        line += "; failed: " + "; ".join(
            f"{r.get('rule')} ({r.get('severity')}): {_number(r.get('value'))}, allowed {r.get('threshold')}"
            for r in failed
        )
    return line


def _number(value: Any) -> str:
    if value is None:
        return "nothing to measure"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return str(int(value)) if isinstance(value, int | float) else str(value)


def message_text(notification: Notification) -> str:
    """The SNS message: compact JSON, as the state machine's `States.JsonToString` renders it."""
    return json.dumps(notification.body, separators=(",", ":"), ensure_ascii=False)


def publish(sns: Any, topic_arn: str, notification: Notification) -> str:
    """Publishes with `status` and `dataset` message attributes (for subscription filter policies)."""
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=notification.subject,
        Message=message_text(notification),
        MessageAttributes={
            "status": {"DataType": "String", "StringValue": str(notification.body["status"])},
            "dataset": {"DataType": "String", "StringValue": str(notification.body["dataset"])},
        },
    )
    return str(response["MessageId"])
