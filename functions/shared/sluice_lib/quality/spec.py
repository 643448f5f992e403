"""The `quality:` section of a contract: one model per rule type (pydantic; no pyarrow, no AWS)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sluice_lib.quality.expression import ExpressionSyntaxError, parse
from sluice_lib.quality.expression import columns as expression_columns

Severity = Literal["warn", "reject"]
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None  # defaults to label(); the `rule` of every result
    severity: Severity  # warn: recorded, the run goes on; reject: the file is rejected as a whole

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9_.:()>=<, -]{1,100}$", value):
            raise ValueError(
                f"rule name {value!r}: letters, digits and _ . : ( ) > = < , - only, at most 100"
            )
        return value

    def label(self) -> str:
        raise NotImplementedError

    @property
    def rule_name(self) -> str:
        return self.name or self.label()

    def columns(self) -> list[str]:
        """The contract fields the rule reads from the validated rows."""
        return []


def _bounds(low: float | None, high: float | None, what: str) -> None:
    if low is None and high is None:
        raise ValueError(f"{what} needs min, max or both")
    if low is not None and high is not None and low > high:
        raise ValueError(f"{what}: min {low} is greater than max {high}")


class RowCount(_Rule):
    """Validated rows of the file within [min, max]."""

    type: Literal["row_count"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some_bound(self) -> RowCount:
        _bounds(self.min, self.max, "row_count")
        return self

    def label(self) -> str:
        return "row_count"


class RowCountAnomaly(_Rule):
    """Validated rows against the last `runs` successful runs of the dataset (the runs ledger).

    Expected band: median ± max(max_deviations × 1.4826 × MAD, tolerance × median); passes with a stated reason
    while fewer than `min_runs` successful runs exist.
    """

    type: Literal["row_count_anomaly"]
    runs: int = Field(default=10, ge=1, le=100)
    min_runs: int = Field(default=3, ge=1)
    max_deviations: float = Field(default=3.5, gt=0)
    tolerance: float = Field(default=0.5, ge=0)

    @model_validator(mode="after")
    def _enough_runs(self) -> RowCountAnomaly:
        if self.min_runs > self.runs:
            raise ValueError(f"row_count_anomaly: min_runs {self.min_runs} is more than runs {self.runs}")
        return self

    def label(self) -> str:
        return "row_count_anomaly"


class Completeness(_Rule):
    """Share of non-null values of a column at least `min`."""

    type: Literal["completeness"]
    column: str
    min: float = Field(ge=0, le=1)

    def label(self) -> str:
        return f"completeness({self.column})"

    def columns(self) -> list[str]:
        return [self.column]


class Unique(_Rule):
    """No two rows share the values of `columns` (rows with a null among them are not compared)."""

    type: Literal["unique"]
    columns_: list[str] = Field(alias="columns", min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def label(self) -> str:
        return f"unique({','.join(self.columns_)})"

    def columns(self) -> list[str]:
        return list(self.columns_)


class References(_Rule):
    """Every non-null `column` value is a `key` of the `dataset`'s curated table (referential integrity)."""

    type: Literal["references"]
    column: str
    dataset: str
    key: str | None = None  # the referenced curated column; default: the same name as `column`
    max_missing: int = Field(default=0, ge=0)  # rows whose value the reference lacks, at most

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"dataset {value!r} must be lower_snake_case")
        return value

    @property
    def ref_key(self) -> str:
        return self.key or self.column

    def label(self) -> str:
        return f"references({self.column}->{self.dataset}.{self.ref_key})"

    def columns(self) -> list[str]:
        return [self.column]


class Freshness(_Rule):
    """The newest value of a date or datetime column is at most `max_age` old when Validate runs."""

    type: Literal["freshness"]
    column: str
    max_age: str  # a number and a unit: 90m, 36h, 2d

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION.match(value.strip()):
            raise ValueError(f"max_age {value!r} must be a number and a unit s, m, h or d (e.g. 36h, 2d)")
        return value.strip()

    @property
    def max_age_hours(self) -> float:
        match = _DURATION.match(self.max_age)
        assert match is not None
        return float(match[1]) * _SECONDS[match[2]] / 3600

    def label(self) -> str:
        return f"freshness({self.column})"

    def columns(self) -> list[str]:
        return [self.column]


class ColumnStatistic(_Rule):
    """A statistic of one column (nulls left out) within [min, max]."""

    type: Literal["distinct_count", "mean", "min", "max"]
    column: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> ColumnStatistic:
        _bounds(self.min, self.max, self.type)
        return self

    def label(self) -> str:
        return f"{self.type}({self.column})"

    def columns(self) -> list[str]:
        return [self.column]


class Expression(_Rule):
    """A cross-column check every row must satisfy; rows where it is null (a null operand) are not counted."""

    type: Literal["expression"]
    check: str
    max_failures: int = Field(default=0, ge=0)

    @field_validator("check")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            parse(value)
        except ExpressionSyntaxError as exc:
            raise ValueError(str(exc)) from None
        return value

    def label(self) -> str:
        return f"expression({self.check.strip()})"

    def columns(self) -> list[str]:
        return expression_columns(parse(self.check))


QualityRule = Annotated[
    RowCount
    | RowCountAnomaly
    | Completeness
    | Unique
    | References
    | Freshness
    | ColumnStatistic
    | Expression,
    Field(discriminator="type"),
]
RULE_TYPES = (
    "row_count",
    "row_count_anomaly",
    "completeness",
    "unique",
    "references",
    "freshness",
    "distinct_count",
    "mean",
    "min",
    "max",
    "expression",
)
NUMERIC_TYPES = ("integer", "number", "year")
