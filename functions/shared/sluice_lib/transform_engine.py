"""Which engine transforms a run: the Glue Spark job, or DuckDB in a Lambda for small files (the one rule).

A Glue job run is billed for at least a minute on at least two workers; a 1 MB file does not need that. The
Lambda engine (sluice_lib.transform_lambda) produces the same curated rows, files and manifest as the Glue
job, but it does not run Spark SQL, so it takes only contracts whose pipeline needs none:

- no `transform.join` (reads other datasets' curated tables), `transform.derive` or `transform.filter`
  (Spark SQL expressions), and no `aggregates` (gold tables in Spark SQL); `rename` is fine;
- `partition_by.columns` only of types whose Hive directory names it writes as Spark does (string, integer,
  year, date, boolean, time); date parts of a field (`partition_by.field`) are always fine.

Validate applies it with the template's `SmallFileMaxBytes` (bytes of the uploaded object; 0 turns the Lambda
engine off) and records the choice in its output; the state machine routes on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sluice_lib.contracts import Contract

Engine = Literal["lambda", "glue"]
LAMBDA: Engine = "lambda"
GLUE: Engine = "glue"
# Partition column types whose directory names the Lambda engine writes as Spark does.
LAMBDA_PARTITION_TYPES = frozenset({"string", "integer", "year", "date", "boolean", "time"})


def lambda_blockers(contract: Contract) -> list[str]:
    """What in the contract needs Spark (empty: the Lambda engine may take its runs)."""
    pipeline = contract.pipeline
    steps = pipeline.transform
    found = []
    if steps.join:
        found.append("transform.join")
    if steps.derive:
        found.append("transform.derive")
    if steps.filter:
        found.append("transform.filter")
    if pipeline.aggregates:
        found.append("aggregates")
    part = pipeline.partition_by
    if part and part.columns:
        renamed = {steps.rename.get(f.name, f.name): f for f in contract.fields}
        odd = [c for c in part.columns if c in renamed and renamed[c].type not in LAMBDA_PARTITION_TYPES]
        if odd:
            found.append(f"partition_by.columns of type {'/'.join(sorted({renamed[c].type for c in odd}))}")
    return found


def engines(contract: Contract) -> list[Engine]:
    """The engines that can transform the contract's runs."""
    return [GLUE] if lambda_blockers(contract) else [LAMBDA, GLUE]


@dataclass(frozen=True)
class EngineChoice:
    engine: Engine
    reason: str

    def fields(self) -> dict[str, str]:
        """As ValidateOutput's `transform_engine` and `transform_engine_reason`."""
        return {"transform_engine": self.engine, "transform_engine_reason": self.reason}


def choose_engine(contract: Contract, size: int, max_bytes: int) -> EngineChoice:
    """The Lambda engine for an eligible contract's object of at most `max_bytes` bytes, else Glue."""
    return decide(lambda_blockers(contract), size, max_bytes)


def decide(blockers: Sequence[str], size: int, max_bytes: int) -> EngineChoice:
    """The rule itself, from what in the contract needs Spark (`lambda_blockers`) and the object's size."""
    if blockers:
        return EngineChoice(GLUE, f"the contract needs Spark: {', '.join(blockers)}")
    if max_bytes <= 0:
        return EngineChoice(GLUE, "SmallFileMaxBytes is 0: the Lambda engine is off")
    if size > max_bytes:
        return EngineChoice(GLUE, f"{size:,} bytes > SmallFileMaxBytes {max_bytes:,}")
    return EngineChoice(LAMBDA, f"{size:,} bytes <= SmallFileMaxBytes {max_bytes:,}")
