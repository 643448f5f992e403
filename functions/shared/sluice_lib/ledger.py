"""The runs ledger: one DynamoDB item per source object version, written by every step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sluice_lib.errors import InvalidEventError
from sluice_lib.models import RunStatus, SourceObject


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ledger_key(source: SourceObject) -> dict[str, dict[str, str]]:
    return {
        "pk": {"S": f"{source.bucket}/{source.key}"},
        "sk": {"S": source.version_id or source.etag or "-"},
    }


def _attr(value: Any) -> dict[str, Any]:
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: _attr(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [_attr(v) for v in value]}
    return {"S": str(value)}


def _plain(attr: dict[str, Any]) -> Any:
    ((kind, value),) = attr.items()
    if kind == "N":
        return int(value) if value.lstrip("-").isdigit() else float(value)
    if kind == "M":
        return {k: _plain(v) for k, v in value.items()}
    if kind == "L":
        return [_plain(v) for v in value]
    if kind == "NULL":
        return None
    return value


class Ledger:
    """Reads and updates run items; `dynamodb` is a boto3 DynamoDB client."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self.ddb = dynamodb
        self.table = table_name

    def get(self, source: SourceObject) -> dict[str, Any] | None:
        item = self.ddb.get_item(TableName=self.table, Key=ledger_key(source), ConsistentRead=True).get(
            "Item"
        )
        return {k: _plain(v) for k, v in item.items()} if item else None

    def update(self, source: SourceObject, status: RunStatus, **fields: Any) -> None:
        """Sets the status and the given fields (None values are stored as NULL)."""
        try:
            dataset = source.dataset
        except InvalidEventError:  # a key outside incoming/<dataset>/ still gets its ledger item
            dataset = "_unknown"
        values = {"status": status, "updated_at": now_iso(), "dataset": dataset, **fields}
        names = {f"#{i}": k for i, k in enumerate(values)}
        attrs = {f":{i}": _attr(v) for i, v in enumerate(values.values())}
        expr = "SET " + ", ".join(f"#{i} = :{i}" for i in range(len(values)))
        self.ddb.update_item(
            TableName=self.table,
            Key=ledger_key(source),
            UpdateExpression=expr,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attrs,
        )
