"""Has the staging schema changed since the table was last crawled? (A crawl costs 10 minutes' billing.)"""

from __future__ import annotations

from typing import Any

from sluice_lib.schema import fingerprint


def table_fingerprint(glue: Any, database: str, table: str) -> str | None:
    """Fingerprint of a catalog table's columns (partition keys aside), or None when there is no table."""
    try:
        response = glue.get_table(DatabaseName=database, Name=table)
    except glue.exceptions.EntityNotFoundException:
        return None
    columns = response["Table"].get("StorageDescriptor", {}).get("Columns", [])
    return fingerprint((c["Name"], c["Type"].lower()) for c in columns)


def schema_changed(glue: Any, database: str, table: str, staging_fingerprint: str) -> bool:
    return table_fingerprint(glue, database, table) != staging_fingerprint
