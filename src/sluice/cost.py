"""What one execution costs on AWS, from the template's and the state machine's actual settings.

The deployment (Lambda memory sizes and architectures, the Glue job's worker type and count, tracing,
the ASL's path) is read from template.sam.yaml and statemachine/*.asl.json every time; only prices and
throughputs live here. Prices: one dated table (PRICES), us-east-1 list prices. Throughputs: THROUGHPUT,
measured by the benchmarks in bench/results/ where a local measurement means something, stated
assumptions elsewhere. docs/cost.md explains the model and its results.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from sluice_lib.curated import MAX_RECORDS_PER_FILE
from sluice_lib.steps.load import serving_batches
from sluice_lib.transform_engine import decide

MB = 1_000_000
GB_LAMBDA = 1024  # Lambda bills memory in MB / 1024 (GB-seconds)


# --- prices ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


# us-east-1 list prices. Taken 2026-11-21 from what AWS publishes on these pages, as known then; this
# workplace cannot browse, so they were not re-read online that day: check them before quoting a bill.
# Free tiers are ignored (a steady pipeline exhausts them).
PRICES_TAKEN = "2026-11-21"
PRICES: dict[str, Price] = {
    "lambda_gb_second_x86_64": Price(0.0000166667, "GB-second", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_second_arm64": Price(0.0000133334, "GB-second", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_request": Price(0.20 / 1e6, "request", "https://aws.amazon.com/lambda/pricing/"),
    "lambda_ephemeral_gb_second": Price(
        0.0000000309, "GB-second of /tmp above 512 MB", "https://aws.amazon.com/lambda/pricing/"
    ),
    "sfn_standard_transition": Price(
        0.025 / 1000, "state transition (Standard)", "https://aws.amazon.com/step-functions/pricing/"
    ),
    "glue_dpu_hour": Price(
        0.44,
        "DPU-hour (Spark job, Glue 2.0+: per second, 1-minute minimum)",
        "https://aws.amazon.com/glue/pricing/",
    ),
    "glue_flex_dpu_hour": Price(
        0.29, "DPU-hour (Flex execution class, 1-minute minimum)", "https://aws.amazon.com/glue/pricing/"
    ),
    "glue_crawler_dpu_hour": Price(
        0.44, "DPU-hour (crawler: per second, 10-minute minimum)", "https://aws.amazon.com/glue/pricing/"
    ),
    "glue_catalog_request": Price(1.00 / 1e6, "Data Catalog request", "https://aws.amazon.com/glue/pricing/"),
    "s3_put": Price(0.005 / 1000, "PUT, COPY, POST or LIST request", "https://aws.amazon.com/s3/pricing/"),
    "s3_get": Price(0.0004 / 1000, "GET, SELECT or other request", "https://aws.amazon.com/s3/pricing/"),
    "dynamodb_wru": Price(
        0.625 / 1e6, "on-demand write request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
    "dynamodb_rru": Price(
        0.125 / 1e6, "on-demand read request unit", "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
    "sqs_request": Price(
        0.40 / 1e6, "standard queue request (64 KB chunk)", "https://aws.amazon.com/sqs/pricing/"
    ),
    "sns_publish": Price(0.50 / 1e6, "publish (64 KB chunk)", "https://aws.amazon.com/sns/pricing/"),
    "xray_trace": Price(5.00 / 1e6, "trace recorded", "https://aws.amazon.com/xray/pricing/"),
}

# DPUs per worker of each Glue worker type (https://docs.aws.amazon.com/glue/latest/dg/add-job.html).
DPU_PER_WORKER = {
    "G.025X": 0.25,
    "G.1X": 1.0,
    "G.2X": 2.0,
    "G.4X": 4.0,
    "G.8X": 8.0,
    "G.12X": 12.0,
    "G.16X": 16.0,
}
VCPU_PER_DPU = 4
GLUE_MINIMUM_S = 60.0
LEGACY_GLUE_MINIMUM_S = 600.0  # Glue 0.9 and 1.0
CRAWLER_MINIMUM_S = 600.0
PYTHON_SHELL_DPU = 0.0625  # a Glue Python shell job's smallest capacity (1/16 DPU)


# --- throughput: measured where a local figure means something, assumed (and said) elsewhere ------------


@dataclass(frozen=True)
class Throughput:
    """Seconds the steps take, per execution. Each field says where its figure comes from."""

    # bench/results/validate.md: sluice's validation core, 222 MB per CPU-second on the 124 MB file (one
    # core, as a 1769 MB Lambda has one vCPU); 239 on the 1,242 MB one.
    validate_mb_per_s: float = 222.0
    # assumed: GetObject first byte, staging and quarantine uploads, catalog lookup, ledger writes.
    validate_fixed_s: float = 1.0
    # assumed: Glue's start-up plus a cold JVM's class loading and JIT before the work proper (locally the
    # cold job took 4-26 s more than the 2nd job in the same session, bench/results/transform.md).
    glue_fixed_s: float = 30.0
    # bench/results/transform.md: the cold local job's CPU seconds (Python and JVM) per MB of CSV,
    # 33.9 CPU s for the 124 MB file; divided by the executors' vCPUs.
    glue_core_s_per_mb: float = 0.27
    # assumed: a crawl of one staging prefix (DESIGN.md: "about a minute"); billed 10 minutes anyway.
    crawl_s: float = 60.0
    crawler_dpus: float = 2.0  # assumed: AWS's crawler pricing example uses 2 DPUs
    # assumed: real DynamoDB BatchWriteItem from 8 threads in one Lambda (moto's figure means nothing here).
    serving_items_per_s: float = 4000.0
    # assumed: publish (server-side COPY), catalog and ledger calls of Load, Archive, RegisterPartition.
    load_fixed_s: float = 1.0
    archive_fixed_s: float = 0.5
    archive_copy_mb_per_s: float = 200.0  # assumed: server-side multipart copy
    register_partition_s: float = 0.3
    # bench/results/lambda-engine.md: the Lambda engine (DuckDB) on one core, 3.07 CPU s for 100.2 MB of CSV
    # (0.13 s for 1 MB); the same 0.031 s/MB as bench/results/transform.md's 3.9 s for 124 MB.
    duckdb_s_per_mb: float = 0.031
    # assumed: TransformInLambda's S3 calls (list, download the staging file, upload the output and manifest)
    # at 80 MB/s of staging plus output bytes, after 0.3 s of request latency.
    lambda_transform_fixed_s: float = 0.3
    lambda_transfer_mb_per_s: float = 80.0
    lambda_init_s: float = 1.0  # assumed: a cold start per function per execution, billed since Aug 2025


THROUGHPUT = Throughput()


@dataclass(frozen=True)
class Sizes:
    """Shape of the data, measured on `sluice generate --dataset offers` output (bench/data)."""

    bytes_per_row: float = 124.0  # 1,000,000 rows = 124.2 MB of CSV
    staging_ratio: float = 0.45  # typed staging Parquet bytes / CSV bytes (56 MB for 124 MB)
    curated_ratio: float = 0.9  # curated Parquet (lineage columns add a 64-hex hash a row) / CSV bytes
    partitions: int = 13  # year/month partitions of a file whose rows span 365 days
    bad_row_bytes: int = 300  # one bad row's queue JSON (line, reasons, raw)
    serving_wru_per_row: int = 1  # an offers serving item is well under 1 KB
    ledger_writes: int = 6  # claim/advance per step: Validate 2, Load 2, Archive 2 (functions/*)
    ledger_wru_per_write: int = 2  # a ledger item with counts and URIs is 1-2 KB
    catalog_requests: int = 9  # GetTable (Validate), RegisterPartition 2, Load 4, Glue job 2
    multipart_part_bytes: int = 8 * 1024 * 1024  # boto3 / AWS CLI default chunk size


SIZES = Sizes()


# --- the deployment, read from the template and the ASL ------------------------------------------------


@dataclass(frozen=True)
class LambdaSpec:
    logical_id: str
    memory_mb: int
    architecture: str
    ephemeral_mb: int
    timeout_s: int = 3


@dataclass(frozen=True)
class GlueJobSpec:
    logical_id: str
    worker_type: str
    workers: int
    glue_version: str
    execution_class: str

    @property
    def dpus(self) -> float:
        return DPU_PER_WORKER[self.worker_type] * self.workers

    @property
    def minimum_s(self) -> float:
        """Glue 2.0 and later (6.0 included) bill Spark jobs per second with a 1-minute minimum; 0.9 and 1.0
        billed 10 minutes."""
        major = float(self.glue_version or "0")
        return GLUE_MINIMUM_S if major >= 2.0 else LEGACY_GLUE_MINIMUM_S

    @property
    def executor_cores(self) -> float:
        """vCPUs that run tasks: every worker but the driver's."""
        return max(self.workers - 1, 1) * DPU_PER_WORKER[self.worker_type] * VCPU_PER_DPU


@dataclass(frozen=True)
class Deployment:
    functions: dict[str, LambdaSpec]
    glue_job: GlueJobSpec
    asl: dict[str, Any]
    placeholders: dict[str, str]  # ASL ${Placeholder} -> logical id of the resource it names
    parameters: dict[str, str]
    traced: bool
    max_records_per_file: int

    @property
    def small_file_max_bytes(self) -> int:
        """The SmallFileMaxBytes default: files up to it go to the Lambda engine (0: none; absent: none)."""
        return int(float(self.parameters.get("SmallFileMaxBytes") or 0))

    @property
    def has_lambda_transform(self) -> bool:
        return any(_is_lambda_transform(state) for state in self.asl.get("States", {}).values())


def _value(node: Any, parameters: dict[str, str]) -> Any:
    """A property's value with `!Ref Parameter` resolved to the parameter's default."""
    if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in parameters:
        return parameters[node["Ref"]]
    return node


def _logical_id(node: Any) -> str | None:
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        att = node["Fn::GetAtt"]
        return str(att[0] if isinstance(att, list) else att.split(".", 1)[0])
    if isinstance(node, dict) and "Ref" in node:
        return str(node["Ref"])
    return None


def serving_map_items(deployment: Deployment, rows: int, files: int) -> int:
    """The LoadServing Map's items for `rows` spread evenly over `files` curated files, as Load plans them
    (sluice_lib.steps.load.serving_batches: LoadServingItems rows, LoadFanOutFiles files an item); 0 when one
    Load invocation serves them."""
    fan_out_files = int(float(deployment.parameters.get("LoadFanOutFiles") or 0)) or None
    serving_rows = int(float(deployment.parameters.get("LoadServingItems") or 0)) or None
    over_files = fan_out_files is not None and files > fan_out_files
    over_rows = serving_rows is not None and rows > serving_rows
    if not (over_files or over_rows) or files == 0:
        return 0
    per_file = [rows // files + (1 if i < rows % files else 0) for i in range(files)]
    keys = [f"{i:09d}" for i in range(files)]
    return sum(
        1 for _ in serving_batches(keys, per_file, rows_per_batch=serving_rows, files_per_batch=fan_out_files)
    )


def load_deployment(template: Path) -> Deployment:
    """Reads the settings that cost money from template.sam.yaml and its state machine's ASL file."""
    sam = yaml_parse(template.read_text(encoding="utf-8"))
    parameters = {k: str(v.get("Default", "")) for k, v in sam.get("Parameters", {}).items()}
    glob = sam.get("Globals", {}).get("Function", {})
    functions: dict[str, LambdaSpec] = {}
    glue_job: GlueJobSpec | None = None
    asl: dict[str, Any] = {}
    placeholders: dict[str, str] = {}
    traced = str(glob.get("Tracing", "")) == "Active"
    for name, resource in sam["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            functions[name] = LambdaSpec(
                logical_id=name,
                memory_mb=int(_value(props.get("MemorySize", glob.get("MemorySize", 128)), parameters)),
                architecture=(props.get("Architectures") or glob.get("Architectures") or ["x86_64"])[0],
                ephemeral_mb=int((props.get("EphemeralStorage") or {}).get("Size", 512)),
                timeout_s=int(_value(props.get("Timeout", glob.get("Timeout", 3)), parameters)),
            )
        elif kind == "AWS::Glue::Job":
            glue_job = GlueJobSpec(
                logical_id=name,
                worker_type=str(_value(props.get("WorkerType", "G.1X"), parameters)),
                workers=int(_value(props.get("NumberOfWorkers", 2), parameters)),
                glue_version=str(props.get("GlueVersion", "")),
                execution_class=str(_value(props.get("ExecutionClass", "STANDARD"), parameters)),
            )
        elif kind == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            asl = json.loads((template.parent / props["DefinitionUri"]).read_text(encoding="utf-8"))
            for placeholder, target in (props.get("DefinitionSubstitutions") or {}).items():
                logical = _logical_id(target)
                if logical is not None:
                    placeholders[placeholder] = logical
            traced = traced or bool((props.get("Tracing") or {}).get("Enabled"))
    if glue_job is None or not asl:
        raise ValueError(f"{template}: no AWS::Glue::Job or no state machine with a DefinitionUri")
    return Deployment(
        functions=functions,
        glue_job=glue_job,
        asl=asl,
        placeholders=placeholders,
        parameters=parameters,
        traced=traced,
        max_records_per_file=MAX_RECORDS_PER_FILE,
    )


# --- the ASL path --------------------------------------------------------------------------------------


@dataclass
class PathCounts:
    """What one execution does along its path: billed transitions and the work it starts."""

    states: list[str] = field(default_factory=list)
    transitions: int = 0
    lambda_calls: Counter[str] = field(default_factory=Counter)  # by logical id
    glue_job_runs: int = 0
    crawler_runs: int = 0
    sdk_calls: Counter[str] = field(default_factory=Counter)
    sns_publishes: int = 0
    map_items: int = 0


def _rule_matches(rule: dict[str, Any], facts: dict[str, Any]) -> bool:
    if "And" in rule:
        return all(_rule_matches(r, facts) for r in rule["And"])
    if "Or" in rule:
        return any(_rule_matches(r, facts) for r in rule["Or"])
    if "Not" in rule:
        return not _rule_matches(rule["Not"], facts)
    variable = rule.get("Variable")
    if variable not in facts:
        return False
    value = facts[variable]
    tests = {
        "BooleanEquals": lambda v, x: v is x,
        "StringEquals": lambda v, x: v == x,
        "NumericEquals": lambda v, x: v == x,
        "NumericGreaterThanEquals": lambda v, x: v >= x,
        "NumericGreaterThan": lambda v, x: v > x,
        "NumericLessThan": lambda v, x: v < x,
        "NumericLessThanEquals": lambda v, x: v <= x,
        "IsPresent": lambda v, x: x is True,
    }
    return any(key in rule and test(value, rule[key]) for key, test in tests.items())


def _placeholder(text: Any) -> str | None:
    found = re.fullmatch(r"\$\{(\w+)\}", text) if isinstance(text, str) else None
    return found.group(1) if found else None


def walk(
    asl: dict[str, Any],
    placeholders: dict[str, str],
    facts: dict[str, Any],
    *,
    crawl_s: float = 60.0,
    map_items: int = 0,
    max_states: int = 10_000,
) -> PathCounts:
    """Follows the happy path from StartAt, one billed transition per state entered.

    Choice states are decided by `facts` (JSONPath -> value; a rule on an unknown path is false, so the
    Default applies). The crawler loop is simulated: startCrawler starts a crawl of `crawl_s` seconds,
    Wait states advance the clock, getCrawler reports READY/SUCCEEDED once the crawl is over, and a Pass
    state adding to a counter with States.MathAdd increments it. A Distributed Map runs its item
    processor `map_items` times.
    """
    counts = PathCounts()
    facts = dict(facts)
    states = asl["States"]
    name: str | None = asl["StartAt"]
    clock = crawl_started = 0.0
    while name is not None:
        if len(counts.states) >= max_states:
            raise ValueError(
                f"the path does not end within {max_states} states: a loop the facts never leave"
            )
        state = states[name]
        counts.states.append(name)
        counts.transitions += 1
        kind = state["Type"]
        nxt = state.get("Next")
        if kind == "Task":
            resource = state["Resource"]
            params = state.get("Parameters", {})
            if resource.endswith(":lambda:invoke"):
                target = _placeholder(params.get("FunctionName"))
                counts.lambda_calls[placeholders.get(target or "", target or "?")] += 1
            elif "glue:startJobRun" in resource:
                counts.glue_job_runs += 1
            elif resource.endswith("glue:startCrawler"):
                counts.crawler_runs += 1
                crawl_started = clock
            elif resource.endswith(":sns:publish"):
                counts.sns_publishes += 1
            else:
                counts.sdk_calls[resource.rsplit(":::", 1)[-1]] += 1
            result_path = state.get("ResultPath") or "$"
            for key, value in (state.get("ResultSelector") or {}).items():
                if not key.endswith(".$"):  # literal results, such as the crawl loop's poll counter
                    facts[f"{result_path}.{key}"] = value
            if resource.endswith("glue:getCrawler"):
                done = clock - crawl_started >= crawl_s
                facts[f"{result_path}.state"] = "READY" if done else "RUNNING"
                facts[f"{result_path}.last_crawl.Status"] = "SUCCEEDED" if done else "RUNNING"
        elif kind == "Wait":
            clock += float(state.get("Seconds", 0))
        elif kind == "Pass":
            result_path = state.get("ResultPath", "$")
            for key, expression in (state.get("Parameters") or {}).items():
                found = re.fullmatch(r"States\.MathAdd\((\$[\w.]+),\s*(-?\d+)\)", str(expression))
                if key.endswith(".$") and found:
                    facts[f"{result_path}.{key[:-2]}"] = facts.get(found.group(1), 0) + int(found.group(2))
        elif kind == "Choice":
            nxt = next((c["Next"] for c in state["Choices"] if _rule_matches(c, facts)), state.get("Default"))
        elif kind == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            if processor and map_items:
                child = walk(processor, placeholders, facts, crawl_s=crawl_s)
                counts.transitions += child.transitions * map_items
                for fn, n in child.lambda_calls.items():
                    counts.lambda_calls[fn] += n * map_items
                counts.map_items += map_items
        elif kind in ("Succeed", "Fail"):
            break
        name = None if state.get("End") else nxt
    return counts


def _starts_crawler(state: dict[str, Any]) -> bool:
    return str(state.get("Resource", "")).endswith("glue:startCrawler")


def _is_lambda_transform(state: dict[str, Any]) -> bool:
    """The small-file transform: a Lambda task that keeps its result where the Glue job's goes."""
    return (
        str(state.get("Resource", "")).endswith(":lambda:invoke") and state.get("ResultPath") == "$.transform"
    )


def _engine_facts(asl: dict[str, Any], lambda_engine: bool) -> dict[str, Any]:
    """Facts that send the engine Choice to the Lambda transform (or away from it): the string rules whose
    Next is that state, as the ASL writes them."""
    states = asl["States"]
    facts: dict[str, Any] = {}
    for state in states.values():
        for rule in state.get("Choices", []) if state.get("Type") == "Choice" else []:
            if not _is_lambda_transform(states.get(rule.get("Next", ""), {})):
                continue
            for leaf in rule.get("And", [rule]):
                if "Variable" in leaf and "StringEquals" in leaf:
                    facts[leaf["Variable"]] = leaf["StringEquals"] if lambda_engine else "glue"
    return facts


def _branch_facts(asl: dict[str, Any], leads_there: Any, take: bool) -> dict[str, Any]:
    """Facts that send each Choice towards (take) or away from the states `leads_there` picks.

    The ASL names its own variables (`$.run.result.schema_changed`): the model finds the boolean rules
    whose Next is such a state instead of knowing the paths.
    """
    states = asl["States"]
    facts: dict[str, Any] = {}
    for state in states.values():
        for rule in state.get("Choices", []) if state.get("Type") == "Choice" else []:
            target = states.get(rule.get("Next", ""), {})
            if "Variable" in rule and "BooleanEquals" in rule and leads_there(target):
                facts[rule["Variable"]] = rule["BooleanEquals"] if take else not rule["BooleanEquals"]
    return facts


# --- the estimate --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    service: str
    what: str
    quantity: float
    unit: str
    usd: float


@dataclass
class Estimate:
    scenario: str
    bytes: int
    rows: int
    lines: list[Line]
    path: PathCounts
    warnings: list[str] = field(default_factory=list)
    engine: str = "glue"  # what transformed the file: glue, lambda or python-shell

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def transitions(self) -> int:
        """Billed state transitions, a further crawl's loop included."""
        return int(sum(line.quantity for line in self.lines if line.service == "Step Functions"))

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.usd
        return out

    def dominant(self) -> Line:
        return max(self.lines, key=lambda line: line.usd)


@dataclass(frozen=True)
class Scenario:
    """One way of running a file: the path's facts and what differs from the template."""

    name: str
    schema_changed: bool = False
    extra_crawls: int = 0  # crawls the path does not show (a second crawler on the output)
    workers: int | None = None  # Glue workers instead of the template's
    worker_type: str | None = None
    flex: bool = False
    # auto: the engine the template chooses (the Lambda one for an eligible contract's file up to
    # SmallFileMaxBytes, else Glue); glue | lambda: that engine whatever the size; python-shell: modelled option.
    transform: str = "auto"


def glue_job_cost(seconds: float, dpus: float, dpu_hour: float, minimum_s: float = GLUE_MINIMUM_S) -> float:
    """DPU-seconds billed per second above the minimum, times the DPU-hour price."""
    return dpus * max(seconds, minimum_s) / 3600 * dpu_hour


def crawler_cost(seconds: float, dpus: float, dpu_hour: float) -> float:
    return dpus * max(seconds, CRAWLER_MINIMUM_S) / 3600 * dpu_hour


def lambda_cost(seconds: float, spec: LambdaSpec, prices: dict[str, Price] = PRICES) -> float:
    """GB-seconds (memory MB / 1024 x seconds) at the architecture's price, the request, /tmp above 512 MB."""
    gb_s = spec.memory_mb / GB_LAMBDA * seconds
    extra_tmp = max(spec.ephemeral_mb - 512, 0) / GB_LAMBDA * seconds
    return (
        gb_s * prices[f"lambda_gb_second_{spec.architecture}"].usd
        + prices["lambda_request"].usd
        + extra_tmp * prices["lambda_ephemeral_gb_second"].usd
    )


def parts(size: float, part: int = SIZES.multipart_part_bytes) -> int:
    """S3 requests to put or copy an object: 1, or create + parts + complete when multipart."""
    if size <= part:
        return 1
    return math.ceil(size / part) + 2


def estimate(
    deployment: Deployment,
    size: int,
    rows: int | None = None,
    *,
    scenario: Scenario | None = None,
    bad_rate: float = 0.0,
    serving: bool = True,
    blockers: Sequence[str] = (),
    throughput: Throughput = THROUGHPUT,
    sizes: Sizes = SIZES,
    prices: dict[str, Price] = PRICES,
) -> Estimate:
    """The AWS cost of one execution for a `size`-byte CSV of `rows` rows (estimated when not given).

    `blockers`: what in the dataset's contract needs Spark (sluice_lib.transform_engine.lambda_blockers);
    none lets the Lambda engine take a file up to the template's SmallFileMaxBytes.
    """
    scenario = scenario or Scenario("sluice (template defaults, schema unchanged)")
    engine = choose_engine(deployment, size, scenario.transform, blockers)
    rows = rows if rows is not None else max(1, round(size / sizes.bytes_per_row))
    bad = round(rows * bad_rate)
    valid = rows - bad
    mb = size / MB
    job = deployment.glue_job
    if scenario.workers or scenario.worker_type:
        job = replace(
            job, workers=scenario.workers or job.workers, worker_type=scenario.worker_type or job.worker_type
        )
    per_partition = math.ceil(valid / max(sizes.partitions, 1))
    files = sizes.partitions * max(1, math.ceil(per_partition / deployment.max_records_per_file))
    map_items = serving_map_items(deployment, valid, files) if serving else 0
    fanned_out = map_items > 0
    facts = {
        **_branch_facts(deployment.asl, _starts_crawler, scenario.schema_changed),
        **_branch_facts(deployment.asl, lambda state: state.get("Type") == "Map", fanned_out),
        **_engine_facts(deployment.asl, engine == "lambda"),
    }
    path = walk(
        deployment.asl,
        deployment.placeholders,
        facts,
        crawl_s=throughput.crawl_s,
        map_items=map_items,
    )
    lines: list[Line] = []
    warnings: list[str] = []

    def add(service: str, what: str, quantity: float, unit: str, usd: float) -> None:
        lines.append(Line(service, what, quantity, unit, usd))

    # Step Functions: transitions along the path (a second crawl adds its own loop's transitions)
    transitions = path.transitions
    if scenario.extra_crawls:  # each further crawl loops like the path's own crawl does
        crawl_facts = _branch_facts(deployment.asl, _starts_crawler, True)
        skip_facts = _branch_facts(deployment.asl, _starts_crawler, False)
        crawling = walk(deployment.asl, deployment.placeholders, {**facts, **crawl_facts})
        skipping = walk(deployment.asl, deployment.placeholders, {**facts, **skip_facts})
        transitions += scenario.extra_crawls * max(crawling.transitions - skipping.transitions, 0)
    sfn = prices["sfn_standard_transition"]
    add("Step Functions", "state transitions (Standard)", transitions, "transitions", transitions * sfn.usd)

    # Lambda: seconds per function along the path
    glue_transform = engine == "glue"
    staging = size * sizes.staging_ratio
    curated = size * sizes.curated_ratio
    serving_s = valid / throughput.serving_items_per_s if serving else 0.0
    seconds_of = {
        "Validate": throughput.validate_fixed_s + mb / throughput.validate_mb_per_s,
        "RegisterPartition": throughput.register_partition_s,
        # A fanned-out Load leaves the serving items to the LoadServingBatch items, which share that work.
        "Load": throughput.load_fixed_s + (0.0 if fanned_out else serving_s),
        "LoadServingBatch": serving_s,
        "Archive": throughput.archive_fixed_s + mb / throughput.archive_copy_mb_per_s,
        "TransformInLambda": throughput.lambda_transform_fixed_s
        + mb * throughput.duckdb_s_per_mb
        + (staging + curated) / MB / throughput.lambda_transfer_mb_per_s,
    }
    for logical, n in path.lambda_calls.items():
        spec = deployment.functions.get(logical)
        if spec is None:
            continue
        short = logical.removesuffix("Function")
        seconds = n * throughput.lambda_init_s + seconds_of.get(short, 0.5)
        usd = lambda_cost(seconds, spec, prices) + (n - 1) * prices["lambda_request"].usd
        what = f"{short}: {n} call{'s' if n > 1 else ''}, {spec.memory_mb} MB {spec.architecture}"
        if seconds / n > spec.timeout_s:
            warnings.append(
                f"{short} would need {seconds / n:,.0f} s a call, over its {spec.timeout_s} s timeout"
            )
        add("Lambda", what, spec.memory_mb / GB_LAMBDA * seconds, "GB-seconds", usd)

    # Glue: the transform job (DPU-seconds, 1-minute minimum) and crawls (10-minute minimum)
    if glue_transform:
        job_s = throughput.glue_fixed_s + mb * throughput.glue_core_s_per_mb / job.executor_cores
        price = prices[
            "glue_flex_dpu_hour" if scenario.flex or job.execution_class == "FLEX" else "glue_dpu_hour"
        ]
        billed = max(job_s, job.minimum_s)
        add(
            "Glue job",
            f"Glue {job.glue_version}, {job.workers} x {job.worker_type}{' Flex' if scenario.flex else ''}: "
            f"{job_s:.0f} s run, {billed:.0f} s billed",
            job.dpus * billed,
            "DPU-seconds",
            glue_job_cost(job_s, job.dpus, price.usd, job.minimum_s) * path.glue_job_runs,
        )
    elif engine == "python-shell":
        job_s = 10.0 + mb * throughput.duckdb_s_per_mb
        billed = max(job_s, GLUE_MINIMUM_S)
        add(
            "Glue job",
            f"Python shell, {PYTHON_SHELL_DPU} DPU: {job_s:.0f} s run, {billed:.0f} s billed (modelled)",
            PYTHON_SHELL_DPU * billed,
            "DPU-seconds",
            glue_job_cost(job_s, PYTHON_SHELL_DPU, prices["glue_dpu_hour"].usd),
        )
    crawls = path.crawler_runs + scenario.extra_crawls
    if crawls:
        billed = max(throughput.crawl_s, CRAWLER_MINIMUM_S)
        add(
            "Glue crawler",
            f"{crawls} crawl{'s' if crawls > 1 else ''} x {throughput.crawler_dpus:g} DPU, {billed:.0f} s billed each",
            crawls * throughput.crawler_dpus * billed,
            "DPU-seconds",
            crawls
            * crawler_cost(throughput.crawl_s, throughput.crawler_dpus, prices["glue_crawler_dpu_hour"].usd),
        )
    catalog = sizes.catalog_requests + (2 * crawls) - (0 if glue_transform else 2)  # the job's 2 calls
    add(
        "Glue Data Catalog",
        "catalog requests",
        catalog,
        "requests",
        catalog * prices["glue_catalog_request"].usd,
    )

    # S3 requests
    per_file = curated / files
    if engine == "lambda":  # PUT per file and the manifest; LIST staging, the old output and manifest
        transform_puts = files * parts(per_file) + 1 + 3
        transform_gets = 1 + math.ceil(staging / sizes.multipart_part_bytes)  # HEAD, then ranged GETs
    else:  # output files, committer copies, manifest; LIST staging and output
        transform_puts = files * (parts(per_file) + 1) + 1 + 2
        transform_gets = math.ceil(staging / sizes.multipart_part_bytes) + 2  # footer, ranged reads
    puts = (
        parts(size)  # the upload itself
        + parts(staging)  # Validate: staging Parquet
        + (1 if bad else 0)  # Validate: quarantine CSV
        + transform_puts
        + files
        + 1  # Load: publish COPY per file, LIST stale files
        + parts(size)  # Archive: COPY (multipart copy above the chunk size)
        + crawls  # crawler LIST
    )
    gets = (
        1  # Validate: GetObject
        + transform_gets
        + 1  # Load: manifest
        + (files if serving else 0)  # Load: read the curated files for serving items
        + crawls * 2  # crawler samples
    )
    add("S3", "PUT, COPY, LIST requests", puts, "requests", puts * prices["s3_put"].usd)
    add("S3", "GET requests", gets, "requests", gets * prices["s3_get"].usd)

    # DynamoDB on-demand: the runs ledger and the serving items
    ledger_wru = sizes.ledger_writes * sizes.ledger_wru_per_write
    add("DynamoDB", "runs ledger writes", ledger_wru, "WRU", ledger_wru * prices["dynamodb_wru"].usd)
    if serving:
        wru = valid * sizes.serving_wru_per_row
        add("DynamoDB", "serving items", wru, "WRU", wru * prices["dynamodb_wru"].usd)

    # SQS (bad rows, 64 KB chunks), SNS (the notification), X-Ray (one trace per execution)
    sqs = math.ceil(bad * sizes.bad_row_bytes / (64 * 1024)) if bad else 0
    if sqs:
        add("SQS", "bad-records messages (64 KB chunks)", sqs, "requests", sqs * prices["sqs_request"].usd)
    add(
        "SNS",
        "notification publish",
        path.sns_publishes,
        "publishes",
        path.sns_publishes * prices["sns_publish"].usd,
    )
    if deployment.traced:
        add("X-Ray", "trace (Tracing on in the template)", 1, "traces", prices["xray_trace"].usd)
    name = scenario.name
    if scenario.transform == "auto":
        name += f" ({_engine_label(engine, deployment, job)})"
    return Estimate(
        scenario=name, bytes=size, rows=rows, lines=lines, path=path, warnings=warnings, engine=engine
    )


def choose_engine(
    deployment: Deployment, size: int, transform: str = "auto", blockers: Sequence[str] = ()
) -> str:
    """The engine of a scenario: as the template chooses it (`auto`: sluice_lib.transform_engine's rule with
    the template's SmallFileMaxBytes default and what in the contract needs Spark), or the one it names."""
    if transform != "auto":
        return transform
    if not deployment.has_lambda_transform:
        return "glue"
    return decide(blockers, size, deployment.small_file_max_bytes).engine


def _engine_label(engine: str, deployment: Deployment, job: GlueJobSpec) -> str:
    if engine == "lambda":
        return f"Lambda engine: up to SmallFileMaxBytes {deployment.small_file_max_bytes / MB:,.0f} MB"
    return f"Glue {job.workers} x {job.worker_type}"


def scenarios(deployment: Deployment) -> list[Scenario]:
    """sluice as the template sets it up, the alternatives the docs compare it with, and the options."""
    job = deployment.glue_job
    return [
        Scenario("sluice: schema unchanged, crawler skipped"),
        Scenario(
            f"sluice: Glue engine ({job.workers} x {job.worker_type}), crawler skipped", transform="glue"
        ),
        Scenario("sluice: crawler on every file", schema_changed=True),
        Scenario(
            "AWS Prescriptive Guidance ETL pattern: 2 crawls per file, 100 x G.1X",
            schema_changed=True,
            extra_crawls=1,
            workers=100,
            worker_type="G.1X",
            transform="glue",
        ),
        Scenario("option: Glue Flex execution class, crawler skipped", flex=True, transform="glue"),
        Scenario("option: Glue Python shell job (1/16 DPU) for small files", transform="python-shell"),
    ]


def parse_size(text: str) -> int:
    """`1048576`, `1MB`, `100 MB`, `10GB`, `1.5GiB` -> bytes (MB and GB decimal, MiB and GiB binary)."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]i?B|B)?\s*", text, re.I)
    if not found:
        raise ValueError(f"{text!r} is not a size (e.g. 1048576, 1MB, 10GB)")
    unit = (found.group(2) or "B").upper()
    scale = {
        "B": 1,
        "KB": 1e3,
        "MB": 1e6,
        "GB": 1e9,
        "TB": 1e12,
        "KIB": 2**10,
        "MIB": 2**20,
        "GIB": 2**30,
        "TIB": 2**40,
    }
    return int(float(found.group(1)) * scale[unit])
