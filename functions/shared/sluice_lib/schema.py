"""Staging schema of a contract: Arrow types for the Parquet files, Glue types and their fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import pyarrow as pa

from sluice_lib.contracts import Contract, FieldType

_GLUE_TYPES: dict[str, str] = {
    "string": "string",
    "integer": "bigint",
    "number": "double",
    "boolean": "boolean",
    "date": "date",
    "datetime": "timestamp",
    "time": "string",
    "year": "bigint",
}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "time": pa.string(),
    "year": pa.int64(),
}


def glue_type(field_type: FieldType) -> str:
    """The Glue (Hive) column type a contract field type is staged as."""
    return _GLUE_TYPES[field_type]


def arrow_type(field_type: FieldType) -> pa.DataType:
    """The Arrow type a contract field type is staged as in Parquet."""
    return _ARROW_TYPES[field_type]


def staging_arrow_schema(contract: Contract) -> pa.Schema:
    """The staging Parquet schema: contract fields in contract order, all nullable."""
    return pa.schema([pa.field(f.name, arrow_type(f.type)) for f in contract.fields])


def staging_glue_columns(contract: Contract) -> list[tuple[str, str]]:
    """(column name, Glue type) pairs of the staging table, in contract order."""
    return [(f.name, glue_type(f.type)) for f in contract.fields]


def fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """16 hex chars of sha256 over the JSON list [[name, type], ...] (compact, names and types as given)."""
    canonical = json.dumps([[name, type_] for name, type_ in pairs], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
