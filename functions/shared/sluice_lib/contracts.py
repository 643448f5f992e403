"""Dataset contracts: Frictionless Table Schema fields plus sluice's `pipeline:` section."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sluice_lib.errors import ContractError, ContractNotFoundError

FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime", "time", "year"]
DatePart = Literal["year", "month", "day", "hour"]
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Constraints(_Strict):
    required: bool = False
    unique: bool = False
    enum: list[str] | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    minLength: int | None = Field(default=None, ge=0)
    maxLength: int | None = Field(default=None, ge=0)

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern {value!r} is not a valid regular expression: {exc}") from exc
        return value


class FieldSpec(_Strict):
    name: str
    type: FieldType = "string"
    format: str = "default"
    title: str | None = None
    description: str | None = None
    constraints: Constraints = Constraints()
    trueValues: list[str] = ["true", "True", "TRUE", "1"]
    falseValues: list[str] = ["false", "False", "FALSE", "0"]

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"field name {value!r} must be lower_snake_case (letters, digits, underscores)")
        return value

    @model_validator(mode="after")
    def _constraints_fit_type(self) -> FieldSpec:
        c = self.constraints
        numeric = self.type in ("integer", "number", "year")
        if (c.minimum is not None or c.maximum is not None) and not numeric:
            raise ValueError(f"minimum/maximum apply to numeric fields, not to type {self.type!r}")
        if c.minimum is not None and c.maximum is not None and c.minimum > c.maximum:
            raise ValueError(f"minimum {c.minimum} is greater than maximum {c.maximum}")
        if c.minLength is not None and c.maxLength is not None and c.minLength > c.maxLength:
            raise ValueError(f"minLength {c.minLength} is greater than maxLength {c.maxLength}")
        return self


class TableSchema(_Strict):
    fields: list[FieldSpec] = Field(min_length=1)
    primaryKey: list[str] = []

    @model_validator(mode="after")
    def _names_unique_and_keys_known(self) -> TableSchema:
        names = [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"field names must be unique; repeated: {', '.join(dupes)}")
        unknown = [k for k in self.primaryKey if k not in names]
        if unknown:
            raise ValueError(f"primaryKey names unknown fields: {', '.join(unknown)}")
        return self


class PartitionBy(_Strict):
    """Either date parts of one date/datetime field, or plain columns."""

    field: str | None = None
    parts: list[DatePart] = []
    columns: list[str] = []

    @model_validator(mode="after")
    def _one_kind(self) -> PartitionBy:
        if bool(self.field) == bool(self.columns):
            raise ValueError("give either field + parts (date parts of one field) or columns")
        if self.field and not self.parts:
            raise ValueError(f"partition field {self.field!r} needs parts, e.g. [year, month]")
        return self

    def column_names(self) -> list[str]:
        return list(self.parts) if self.field else list(self.columns)


class Dedupe(_Strict):
    """Keep the last row per primary key, ordered by `order_by` (then by input line)."""

    order_by: str | None = None


class Serving(_Strict):
    pk: list[str] = Field(min_length=1)
    sk: list[str] = []


class TransformSteps(_Strict):
    rename: dict[str, str] = {}
    derive: dict[str, str] = {}
    filter: str | None = None


class Pipeline(_Strict):
    max_reject_ratio: float = Field(default=0.05, ge=0, le=1)
    partition_by: PartitionBy | None = None
    dedupe: Dedupe | None = None
    serving: Serving | None = None
    transform: TransformSteps = TransformSteps()


class Contract(_Strict):
    dataset: str
    title: str | None = None
    description: str | None = None
    table_schema: TableSchema = Field(alias="schema")
    pipeline: Pipeline = Pipeline()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("dataset")
    @classmethod
    def _dataset_is_identifier(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"dataset {value!r} must be lower_snake_case")
        return value

    @model_validator(mode="after")
    def _pipeline_names_known(self) -> Contract:
        fields = {f.name: f for f in self.table_schema.fields}
        p = self.pipeline
        if p.partition_by and p.partition_by.field:
            source = fields.get(p.partition_by.field)
            if source is None:
                raise ValueError(f"pipeline.partition_by.field names unknown field {p.partition_by.field!r}")
            if source.type not in ("date", "datetime"):
                raise ValueError(
                    f"pipeline.partition_by.field {source.name!r} must be a date or datetime, not {source.type}"
                )
        if p.partition_by and p.partition_by.columns:
            produced = set(fields) | set(p.transform.derive) | set(p.transform.rename.values())
            unknown = [c for c in p.partition_by.columns if c not in produced]
            if unknown:
                raise ValueError(f"pipeline.partition_by.columns names unknown columns: {', '.join(unknown)}")
        if p.dedupe and not self.table_schema.primaryKey:
            raise ValueError("pipeline.dedupe needs schema.primaryKey")
        if p.dedupe and p.dedupe.order_by and p.dedupe.order_by not in fields:
            raise ValueError(f"pipeline.dedupe.order_by names unknown field {p.dedupe.order_by!r}")
        if p.serving:
            unknown = [k for k in [*p.serving.pk, *p.serving.sk] if k not in fields]
            if unknown:
                raise ValueError(f"pipeline.serving names unknown fields: {', '.join(unknown)}")
        unknown = [k for k in p.transform.rename if k not in fields]
        if unknown:
            raise ValueError(f"pipeline.transform.rename names unknown fields: {', '.join(unknown)}")
        return self

    @property
    def fields(self) -> list[FieldSpec]:
        return self.table_schema.fields

    @property
    def primary_key(self) -> list[str]:
        return self.table_schema.primaryKey

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def required_columns(self) -> list[str]:
        """Columns a file's header must have: required fields and primary-key fields."""
        keys = set(self.primary_key)
        return [f.name for f in self.fields if f.constraints.required or f.name in keys]

    def to_json(self) -> str:
        """Canonical JSON (the Glue job's --contract argument)."""
        return json.dumps(self.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))

    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def _location(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Turns a pydantic error location into `schema.fields[2] (created).constraints`."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            name = node[item].get("name") if isinstance(node, list) and isinstance(node[item], dict) else None
            parts[-1] += f"[{item}]" + (f" ({name})" if name else "")
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts) or "(top level)"


def parse_contract(data: Any, source: str) -> Contract:
    """Builds a Contract from parsed YAML; errors name the file, the field and what is wrong."""
    if not isinstance(data, dict):
        raise ContractError(f"{source}: a contract must be a mapping with dataset, schema and pipeline")
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{source}: {_location(err['loc'], data)}: {msg}")
        raise ContractError("\n".join(problems)) from None


def load_contract_file(path: Path) -> Contract:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractNotFoundError(f"{path}: no such contract file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from None
    contract = parse_contract(data, str(path))
    if contract.dataset != path.stem:
        raise ContractError(f"{path}: dataset {contract.dataset!r} must match the file name {path.stem!r}")
    return contract


class ContractStore:
    """Contracts in a folder, one `<dataset>.yaml` each; loaded once per process and cached."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, Contract] = {}

    def datasets(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.yaml"))

    def get(self, dataset: str) -> Contract | None:
        if dataset not in self._cache:
            path = self.root / f"{dataset}.yaml"
            if not _NAME.match(dataset) or not path.is_file():
                return None
            self._cache[dataset] = load_contract_file(path)
        return self._cache[dataset]

    def check_all(self) -> list[str]:
        """Every problem of every contract in the folder (empty when all are well-formed)."""
        problems: list[str] = []
        for path in sorted(self.root.glob("*.yaml")):
            try:
                load_contract_file(path)
            except (ContractError, ContractNotFoundError) as exc:
                problems.append(str(exc))
        return problems
