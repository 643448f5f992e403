"""Dataset contracts: Frictionless Table Schema fields plus sluice's `pipeline:` section."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sluice_lib.errors import ContractError, ContractNotFoundError
from sluice_lib.quality.spec import (
    NUMERIC_TYPES,
    RULE_TYPES,
    ColumnStatistic,
    Expression,
    Freshness,
    QualityRule,
    References,
    Unique,
)

FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime", "time", "year"]
DatePart = Literal["year", "month", "day", "hour"]
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
QUALITY_TABLE = "quality"  # the lake's table of quality results (sluice_lib.quality.record)


def _snake_case(what: str, why: str = "") -> AfterValidator:
    """A name that becomes a column or table name: lower_snake_case, else a ValueError naming `what`."""

    def check(value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{what} {value!r} must be lower_snake_case{why}")
        return value

    return AfterValidator(check)


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
    name: Annotated[str, _snake_case("field name", " (letters, digits, underscores)")]
    type: FieldType = "string"
    format: str = "default"
    title: str | None = None
    description: str | None = None
    constraints: Constraints = Constraints()
    trueValues: list[str] = ["true", "True", "TRUE", "1"]
    falseValues: list[str] = ["false", "False", "FALSE", "0"]

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
    missingValues: list[str] = [
        ""
    ]  # Frictionless: values that mean "no value" (null), as the field reads them

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


def _identifiers(names: list[str], what: str) -> list[str]:
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        raise ValueError(f"{what} must be lower_snake_case column names: {', '.join(map(repr, bad))}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} repeats {', '.join(repeated)}")
    return names


class Join(_Strict):
    """Columns of another dataset's curated table, matched on key columns (an equi-join, Spark semantics).

    The reference is read from its curated table as the latest row per `on` key (by `_ingested_at`).
    """

    dataset: Annotated[str, _snake_case("dataset")]
    on: list[str] = Field(min_length=1)
    how: Literal["inner", "left"] = "left"
    select: list[str] = Field(min_length=1)

    @field_validator("on", "select")
    @classmethod
    def _column_names(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return _identifiers(value, info.field_name or "columns")

    @model_validator(mode="after")
    def _keys_not_selected(self) -> Join:
        both = [c for c in self.select if c in self.on]
        if both:
            raise ValueError(f"select repeats the join keys {', '.join(both)} (they are kept from this side)")
        return self


class TransformSteps(_Strict):
    """Applied in this order: join, rename, derive (Spark SQL expressions, in order), filter."""

    join: list[Join] = []
    rename: dict[str, str] = {}
    derive: dict[str, str] = {}
    filter: str | None = None


_SQL_START = re.compile(r"^\s*(?:--[^\n]*\n\s*)*(select|with)\b", re.IGNORECASE)


class Aggregate(_Strict):
    """A gold table: one Spark SQL query over the curated view `<dataset>` (and the joined datasets by name).

    Each run recomputes the gold partitions its rows touch (all of the table when `partition_by` is empty),
    from every curated row of the dataset in those partitions; Load replaces them in curated/<name>/.
    """

    name: Annotated[str, _snake_case("aggregate name", " (it names a table)")]
    title: str | None = None
    description: str | None = None
    sql: str = Field(min_length=1)
    partition_by: list[str] = []
    serving: Serving | None = None

    @field_validator("partition_by")
    @classmethod
    def _partition_names(cls, value: list[str]) -> list[str]:
        return _identifiers(value, "partition_by")

    @field_validator("sql")
    @classmethod
    def _one_query(cls, value: str) -> str:
        if not _SQL_START.match(value):
            raise ValueError("sql must be one query starting with SELECT or WITH")
        if ";" in value.strip().rstrip(";"):
            raise ValueError("sql must be one query: no ';' between statements")
        return value


class Pipeline(_Strict):
    max_reject_ratio: float = Field(default=0.05, ge=0, le=1)
    partition_by: PartitionBy | None = None
    dedupe: Dedupe | None = None
    serving: Serving | None = None
    transform: TransformSteps = TransformSteps()
    aggregates: list[Aggregate] = []


class Contract(_Strict):
    dataset: Annotated[str, _snake_case("dataset")]
    title: str | None = None
    description: str | None = None
    table_schema: TableSchema = Field(alias="schema")
    pipeline: Pipeline = Pipeline()
    quality: list[QualityRule] = []  # dataset rules on the validated rows (sluice_lib.quality)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("dataset")
    @classmethod
    def _dataset_not_reserved(cls, value: str) -> str:
        if value == QUALITY_TABLE:
            raise ValueError(
                f"dataset {value!r} is reserved: the catalog table of every run's quality results"
            )
        return value

    @model_validator(mode="after")
    def _pipeline_names_known(self) -> Contract:
        fields = {f.name: f for f in self.table_schema.fields}
        p = self.pipeline
        self._check_joins()
        if p.partition_by and p.partition_by.field:
            source = fields.get(p.partition_by.field)
            if source is None:
                raise ValueError(f"pipeline.partition_by.field names unknown field {p.partition_by.field!r}")
            if source.type not in ("date", "datetime"):
                raise ValueError(
                    f"pipeline.partition_by.field {source.name!r} must be a date or datetime, not {source.type}"
                )
        if p.partition_by and p.partition_by.columns:
            produced = set(self.curated_columns())
            unknown = [c for c in p.partition_by.columns if c not in produced]
            if unknown:
                raise ValueError(f"pipeline.partition_by.columns names unknown columns: {', '.join(unknown)}")
        if p.dedupe and not self.table_schema.primaryKey:
            raise ValueError("pipeline.dedupe needs schema.primaryKey")
        if p.dedupe and p.dedupe.order_by and p.dedupe.order_by not in fields:
            raise ValueError(f"pipeline.dedupe.order_by names unknown field {p.dedupe.order_by!r}")
        if p.serving:
            curated = self.curated_columns()
            unknown = [k for k in [*p.serving.pk, *p.serving.sk] if k not in curated]
            if unknown:
                raise ValueError(
                    f"pipeline.serving names columns the curated table does not have: {', '.join(unknown)}"
                )
        joined = [c for j in p.transform.join for c in j.select]
        unknown = [k for k in p.transform.rename if k not in fields and k not in joined]
        if unknown:
            raise ValueError(f"pipeline.transform.rename names unknown fields: {', '.join(unknown)}")
        self._check_aggregates()
        self._check_quality()
        return self

    def _check_quality(self) -> None:
        """Rules read contract fields of fitting types; rule names are unique (they key the results)."""
        fields = {f.name: f for f in self.fields}
        names = [r.rule_name for r in self.quality_rules()]
        for i, rule in enumerate(self.quality):
            where = f"quality[{i}] ({rule.rule_name})"
            if names.count(rule.rule_name) > 1:
                raise ValueError(f"{where}: another rule has the same name; give one a `name`")
            unknown = [c for c in rule.columns() if c not in fields]
            if unknown:
                raise ValueError(
                    f"{where} names columns {self.dataset} does not have: {', '.join(unknown)} "
                    f"(rules run on the validated rows, before the transform: {', '.join(fields)})"
                )
            if isinstance(rule, Freshness) and fields[rule.column].type not in ("date", "datetime"):
                raise ValueError(
                    f"{where}: {rule.column} must be a date or datetime, not {fields[rule.column].type}"
                )
            if (
                isinstance(rule, ColumnStatistic)
                and rule.type != "distinct_count"
                and fields[rule.column].type not in NUMERIC_TYPES
            ):
                raise ValueError(
                    f"{where}: {rule.type} applies to numeric columns, {rule.column} is {fields[rule.column].type}"
                )

    def quality_rules(self) -> list[QualityRule]:
        """The `quality:` rules, then one `unique` rule (reject) per field declaring `unique: true` that no
        explicit rule of the same single column covers: Frictionless's unique constraint, within the file."""
        rules: list[QualityRule] = list(self.quality)
        covered = {tuple(r.columns()) for r in rules if isinstance(r, Unique)}
        for f in self.fields:
            if f.constraints.unique and (f.name,) not in covered:
                rules.append(Unique(type="unique", columns=[f.name], severity="reject"))
        return rules

    def _check_joins(self) -> None:
        """Join keys exist on this side when the join runs; selected columns add new names."""
        available = [f.name for f in self.table_schema.fields]
        for i, join in enumerate(self.pipeline.transform.join):
            where = f"pipeline.transform.join[{i}] ({join.dataset})"
            if join.dataset == self.dataset:
                raise ValueError(f"{where}: a dataset cannot join itself")
            unknown = [c for c in join.on if c not in available]
            if unknown:
                raise ValueError(
                    f"{where}.on names columns {self.dataset} does not have: {', '.join(unknown)} "
                    f"(it has {', '.join(available)})"
                )
            clash = [c for c in join.select if c in available]
            if clash:
                raise ValueError(
                    f"{where}.select would overwrite columns {self.dataset} already has: {', '.join(clash)} "
                    "(rename them in the referenced dataset's contract, or select others)"
                )
            available += join.select

    def _check_aggregates(self) -> None:
        columns = self.curated_columns()
        names = [a.name for a in self.pipeline.aggregates]
        for i, agg in enumerate(self.pipeline.aggregates):
            where = f"pipeline.aggregates[{i}] ({agg.name})"
            if names.count(agg.name) > 1:
                raise ValueError(f"{where}: the name is used by more than one aggregate")
            if agg.name in (self.dataset, QUALITY_TABLE):
                raise ValueError(f"{where}: an aggregate cannot take its dataset's name")
            unknown = [c for c in agg.partition_by if c not in columns]
            if unknown:
                raise ValueError(
                    f"{where}.partition_by names columns the curated {self.dataset} table does not have: "
                    f"{', '.join(unknown)} (a run's rows name the gold partitions they change, so gold "
                    f"partition columns must be curated columns: {', '.join(columns)})"
                )

    def curated_columns(self) -> list[str]:
        """Data and partition columns of the curated table: fields and joined columns (renamed), derived."""
        steps = self.pipeline.transform
        columns = [steps.rename.get(f.name, f.name) for f in self.table_schema.fields]
        columns += [steps.rename.get(c, c) for j in steps.join for c in j.select]
        columns += [d for d in steps.derive if d not in columns]
        part = self.pipeline.partition_by
        if part and part.field:
            columns += [p for p in part.parts if p not in columns]
        return columns

    def references(self) -> list[str]:
        """Datasets whose curated tables this dataset's transform joins, in join order."""
        return list(dict.fromkeys(j.dataset for j in self.pipeline.transform.join))

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
        """Compact JSON (the Glue job's --contract argument). Keys keep the contract's order: derive steps
        run in the order written, so sorting keys would change what the transform does."""
        return json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":"))

    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def _location(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Turns a pydantic error location into `schema.fields[2] (created).constraints`."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            entry = node[item] if isinstance(node, list) and isinstance(node[item], dict) else {}
            name = entry.get("name") or entry.get("dataset")
            parts[-1] += f"[{item}]" + (f" ({name})" if name else "")
        else:
            parts.append(str(item))
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts) or "(top level)"


def _message(err: Any) -> str:
    """A pydantic error's message, in the contract's words where pydantic's are about its own machinery."""
    if err["type"] == "union_tag_invalid":  # a quality rule's `type` names no rule type
        return f"unknown rule type {err['ctx']['tag']!r} (known: {', '.join(RULE_TYPES)})"
    if err["type"] == "extra_forbidden":
        return "unknown key (see docs/contracts.md for what this part of a contract takes)"
    if err["type"] == "union_tag_not_found":
        return f"a rule needs a `type` (one of: {', '.join(RULE_TYPES)})"
    return str(err["msg"]).removeprefix("Value error, ")


def parse_contract(data: Any, source: str) -> Contract:
    """Builds a Contract from parsed YAML; errors name the file, the field and what is wrong."""
    if not isinstance(data, dict):
        raise ContractError(f"{source}: a contract must be a mapping with dataset, schema and pipeline")
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = _message(err)
            where = _location(err["loc"], data)
            if where == "(top level)" and msg.startswith(("pipeline.", "schema.", "quality[")):
                problems.append(f"{source}: {msg}")  # the message names the field itself
            else:
                problems.append(f"{source}: {where}: {msg}")
        raise ContractError("\n".join(problems)) from None


class _ContractLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. YAML 1.1 also reads `on`, `yes`, `no`, `off` as booleans, which
    would turn a join's `on:` key into `True`."""


_ContractLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ContractLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_contract_text(text: str) -> Any:
    """Parses a contract's YAML (YAML 1.2 booleans, see _ContractLoader)."""
    return yaml.load(text, Loader=_ContractLoader)  # a SafeLoader subclass: no arbitrary objects


def load_contract_file(path: Path) -> Contract:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractNotFoundError(f"{path}: no such contract file") from None
    try:
        data = load_contract_text(text)
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
        """Every problem of every contract in the folder (empty when all are well-formed).

        Each contract on its own, then what contracts say about each other: joined datasets exist and have
        the key and selected columns, join keys agree in type, no join cycles, gold table names are unique.
        """
        problems: list[str] = []
        loaded: dict[str, tuple[Path, Contract]] = {}
        broken: set[str] = set()
        for path in sorted(self.root.glob("*.yaml")):
            try:
                contract = load_contract_file(path)
            except (ContractError, ContractNotFoundError) as exc:
                problems.append(str(exc))
                broken.add(path.stem)
            else:
                loaded[contract.dataset] = (path, contract)
        return problems + cross_contract_problems(loaded, broken)


def _join_problems(
    path: Path, contract: Contract, loaded: dict[str, tuple[Path, Contract]], broken: set[str]
) -> list[str]:
    problems = []
    for i, join in enumerate(contract.pipeline.transform.join):
        where = f"{path}: pipeline.transform.join[{i}] ({join.dataset})"
        if join.dataset in broken:
            problems.append(f"{where}.dataset: the contract of {join.dataset!r} is malformed (see above)")
            continue
        if join.dataset not in loaded:
            known = ", ".join(sorted(loaded)) or "none"
            problems.append(f"{where}.dataset: no contract for dataset {join.dataset!r} (known: {known})")
            continue
        other = loaded[join.dataset][1]
        columns = other.curated_columns()
        for attr, names in (("on", join.on), ("select", join.select)):
            unknown = [c for c in names if c not in columns]
            if unknown:
                problems.append(
                    f"{where}.{attr}: the curated {join.dataset} table has no column "
                    f"{', '.join(unknown)} (it has {', '.join(columns)})"
                )
        for key in join.on:
            mine = next((f for f in contract.fields if f.name == key), None)
            theirs = next(
                (f for f in other.fields if other.pipeline.transform.rename.get(f.name, f.name) == key), None
            )
            if mine and theirs and mine.type != theirs.type:
                problems.append(
                    f"{where}.on: {key} is {mine.type} in {contract.dataset} but {theirs.type} in {join.dataset}"
                )
    return problems


def _cycles(loaded: dict[str, tuple[Path, Contract]]) -> list[str]:
    """Join cycles (a joins b joins a): no upload order could ever load their references first."""
    found: list[str] = []
    reported: set[frozenset[str]] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycle = trail[trail.index(name) :]
            if frozenset(cycle) not in reported:
                reported.add(frozenset(cycle))
                path = loaded[cycle[0]][0]
                found.append(
                    f"{path}: pipeline.transform.join: join cycle {' -> '.join([*cycle, name])} "
                    "(each dataset needs the other's curated table first)"
                )
            return
        if name in loaded:
            for ref in loaded[name][1].references():
                visit(ref, [*trail, name])

    for name in sorted(loaded):
        visit(name, [])
    return found


def cross_contract_problems(loaded: dict[str, tuple[Path, Contract]], broken: set[str]) -> list[str]:
    """What the contracts in one folder say about each other (see ContractStore.check_all)."""
    problems: list[str] = []
    owners: dict[str, str] = {}
    for dataset, (path, contract) in sorted(loaded.items()):
        problems += _join_problems(path, contract, loaded, broken)
        for i, agg in enumerate(contract.pipeline.aggregates):
            where = f"{path}: pipeline.aggregates[{i}] ({agg.name}).name"
            if agg.name in loaded or agg.name in broken:
                problems.append(
                    f"{where}: a dataset of that name exists; the gold table would share its table"
                )
            elif agg.name in owners:
                problems.append(f"{where}: {owners[agg.name]} already defines a gold table of that name")
            else:
                owners[agg.name] = dataset
    for _dataset, (path, contract) in sorted(loaded.items()):
        problems += _quality_problems(path, contract, loaded, broken)
    return problems + _cycles(loaded)


def _quality_problems(
    path: Path, contract: Contract, loaded: dict[str, tuple[Path, Contract]], broken: set[str]
) -> list[str]:
    """`references` rules name a dataset whose curated table has the key, of the column's type; `expression`
    rules compute true/false on the staged column types (tried on no rows, so type errors show here)."""
    problems = []
    for i, rule in enumerate(contract.quality):
        where = f"{path}: quality[{i}] ({rule.rule_name})"
        if isinstance(rule, References):
            if rule.dataset in broken:
                problems.append(f"{where}.dataset: the contract of {rule.dataset!r} is malformed (see above)")
                continue
            if rule.dataset not in loaded:
                known = ", ".join(sorted(loaded)) or "none"
                problems.append(f"{where}.dataset: no contract for dataset {rule.dataset!r} (known: {known})")
                continue
            other = loaded[rule.dataset][1]
            if rule.ref_key not in other.curated_columns():
                problems.append(
                    f"{where}.key: the curated {rule.dataset} table has no column {rule.ref_key} "
                    f"(it has {', '.join(other.curated_columns())})"
                )
                continue
            mine = contract.field(rule.column).type
            theirs = next(
                (
                    f.type
                    for f in other.fields
                    if other.pipeline.transform.rename.get(f.name, f.name) == rule.ref_key
                ),
                None,
            )
            if theirs is not None and theirs != mine:
                problems.append(f"{where}: {rule.column} is {mine} here but {theirs} in {rule.dataset}")
        if isinstance(rule, Expression):
            problems += [f"{where}.check: {p}" for p in _expression_problems(contract, rule.check)]
    return problems


def _expression_problems(contract: Contract, check: str) -> list[str]:
    # imported on use: pyarrow, which the CLI has and not every function does
    from sluice_lib.quality.compute import check_expression
    from sluice_lib.schema import staging_arrow_schema

    try:
        check_expression(check, staging_arrow_schema(contract).empty_table())
    except ValueError as exc:
        return [str(exc)]
    return []
