"""Where a run's transform reads other curated tables: the datasets its contract joins, and its own table
(earlier runs' rows) when it has aggregates. Resolved through the Glue Data Catalog, as Athena sees them."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from sluice_lib.contracts import Contract
from sluice_lib.errors import CatalogUpdateError, ReferenceDatasetMissingError, error_code


def table_location(glue: Any, database: str, table: str) -> str | None:
    """The S3 location of a catalog table (with a trailing slash), or None when the table does not exist."""
    try:
        found = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except ClientError as exc:
        if error_code(exc) == "EntityNotFoundException":
            return None
        raise CatalogUpdateError(f"{database}.{table}: cannot read the table: {exc}") from exc
    location = str(found.get("StorageDescriptor", {}).get("Location") or "")
    if not location:
        raise CatalogUpdateError(f"{database}.{table} has no StorageDescriptor.Location")
    return location.rstrip("/") + "/"


def reference_locations(contract: Contract, *, glue: Any, database: str) -> dict[str, str]:
    """`{dataset: location}` of the curated tables the contract's transform reads (the job's --references).

    A joined dataset without a curated table raises ReferenceDatasetMissingError (load it first, then
    redrive); the dataset's own table is left out until its first run has published it, and always for a
    contract with a `primaryKey`, whose transform reads its current partitions through the catalog.
    """
    locations: dict[str, str] = {}
    for name in contract.references():
        location = table_location(glue, database, name)
        if location is None:
            raise ReferenceDatasetMissingError(
                f"{contract.dataset} joins {name}, but {database}.{name} is not in the catalog yet: "
                f"upload a {name} file first, then redrive this execution"
            )
        locations[name] = location
    if contract.pipeline.aggregates and not contract.primary_key:
        # (a keyed table's earlier rows come from the catalog's partitions, read by the job: docs/merge.md)
        own = table_location(glue, database, contract.dataset)
        if own is not None:
            locations[contract.dataset] = own
    return locations


def references_json(contract: Contract, *, glue: Any, database: str) -> str:
    """reference_locations as the compact JSON the Transform state passes to the job."""
    return json.dumps(reference_locations(contract, glue=glue, database=database), separators=(",", ":"))
