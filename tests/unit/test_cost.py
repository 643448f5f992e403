"""The cost model: billing rules, the ASL path walk, template parsing, the `sluice cost` command.

Every expected figure is worked out by hand in the test from the list prices it names.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cost import (
    LambdaSpec,
    Scenario,
    crawler_cost,
    estimate,
    glue_job_cost,
    lambda_cost,
    load_deployment,
    parse_size,
    parts,
    walk,
)

ROOT = Path(__file__).resolve().parents[2]

# A small workflow: Validate, then either RegisterPartition or a crawl polled every 30 s, then Done.
ASL = {
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${ValidateArn}"},
            "Next": "Changed?",
        },
        "Changed?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.changed", "BooleanEquals": True, "Next": "StartCrawler"}],
            "Default": "Register",
        },
        "Register": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${RegisterArn}"},
            "Next": "Transform",
        },
        "StartCrawler": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
            "ResultSelector": {"polls": 0},
            "ResultPath": "$.crawl",
            "Next": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": 30, "Next": "GetCrawler"},
        "GetCrawler": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
            "ResultPath": "$.crawl.latest",
            "Next": "Finished?",
        },
        "Finished?": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.crawl.latest.state", "StringEquals": "READY"},
                        {"Variable": "$.crawl.latest.last_crawl.Status", "StringEquals": "SUCCEEDED"},
                    ],
                    "Next": "Transform",
                },
                {"Variable": "$.crawl.polls", "NumericGreaterThanEquals": 60, "Next": "TimedOut"},
            ],
            "Default": "CountPoll",
        },
        "CountPoll": {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.crawl.polls, 1)"},
            "ResultPath": "$.crawl",
            "Next": "Wait",
        },
        "TimedOut": {"Type": "Fail", "Error": "CrawlTimedOutError"},
        "Transform": {
            "Type": "Task",
            "Resource": "arn:aws:states:::glue:startJobRun.sync",
            "Parameters": {"JobName": "${JobName}"},
            "Next": "Notify",
        },
        "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  WorkerType: {Type: String, Default: G.2X}
  Workers: {Type: Number, Default: 3}
Globals:
  Function:
    MemorySize: 256
    Tracing: Active
Resources:
  ValidateFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/validate/
      MemorySize: 2048
      Architectures: [arm64]
      EphemeralStorage: {Size: 1536}
  RegisterFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/register/}
  Job:
    Type: AWS::Glue::Job
    Properties:
      GlueVersion: "5.1"
      WorkerType: !Ref WorkerType
      NumberOfWorkers: !Ref Workers
      Command: {Name: glueetl, ScriptLocation: glue/transform.py}
  Pipeline:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/pipeline.asl.json
      DefinitionSubstitutions:
        ValidateArn: !GetAtt ValidateFunction.Arn
        RegisterArn: !GetAtt RegisterFunction.Arn
        JobName: !Ref Job
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "template.sam.yaml").write_text(TEMPLATE, encoding="utf-8")
    (tmp_path / "statemachine").mkdir()
    (tmp_path / "statemachine" / "pipeline.asl.json").write_text(json.dumps(ASL), encoding="utf-8")
    return tmp_path


PLACEHOLDERS = {"ValidateArn": "ValidateFunction", "RegisterArn": "RegisterFunction", "JobName": "Job"}


def test_glue_job_cost_short_run_is_billed_the_one_minute_minimum() -> None:
    # 2 DPU x 60 s / 3600 x $0.44 = $0.0146667
    assert glue_job_cost(10.0, 2.0, 0.44) == pytest.approx(0.0146667, rel=1e-5)


def test_glue_job_cost_long_run_is_billed_per_second() -> None:
    # 2 DPU x 90 s / 3600 x $0.44 = $0.022
    assert glue_job_cost(90.0, 2.0, 0.44) == pytest.approx(0.022)


def test_crawler_cost_one_minute_crawl_is_billed_ten_minutes() -> None:
    # 2 DPU x 600 s / 3600 x $0.44 = $0.1466667
    assert crawler_cost(60.0, 2.0, 0.44) == pytest.approx(0.1466667, rel=1e-6)


def test_lambda_cost_counts_gb_seconds_the_request_and_tmp_above_512_mb() -> None:
    spec = LambdaSpec("Fn", memory_mb=1024, architecture="x86_64", ephemeral_mb=1536)
    # 1 GB x 2 s x $0.0000166667 + $0.0000002 + (1 GB of extra /tmp) x 2 s x $0.0000000309
    expected = 0.0000333334 + 0.0000002 + 0.0000000618
    assert lambda_cost(2.0, spec) == pytest.approx(expected, rel=1e-6)


def test_parts_small_object_is_one_request_large_one_is_multipart() -> None:
    assert parts(1_000_000) == 1
    # 100 MB in 8 MiB parts: ceil(100,000,000 / 8,388,608) = 12 parts, plus create and complete
    assert parts(100_000_000) == 14


def test_parse_size_decimal_and_binary_units() -> None:
    assert parse_size("1MB") == 1_000_000
    assert parse_size("10 GB") == 10_000_000_000
    assert parse_size("1MiB") == 1_048_576
    assert parse_size("4096") == 4096
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_walk_schema_unchanged_takes_the_default_branch() -> None:
    path = walk(ASL, PLACEHOLDERS, {"$.changed": False})

    assert path.states == ["Validate", "Changed?", "Register", "Transform", "Notify", "Done"]
    assert path.transitions == 6
    assert dict(path.lambda_calls) == {"ValidateFunction": 1, "RegisterFunction": 1}
    assert (path.glue_job_runs, path.crawler_runs, path.sns_publishes) == (1, 0, 1)


def test_walk_crawl_of_a_minute_polls_twice_at_thirty_second_waits() -> None:
    path = walk(ASL, PLACEHOLDERS, {"$.changed": True}, crawl_s=60.0)

    # the first GetCrawler (after 30 s) sees RUNNING, the second (after 60 s) READY and SUCCEEDED
    assert path.states == [
        "Validate",
        "Changed?",
        "StartCrawler",
        "Wait",
        "GetCrawler",
        "Finished?",
        "CountPoll",
        "Wait",
        "GetCrawler",
        "Finished?",
        "Transform",
        "Notify",
        "Done",
    ]
    assert path.transitions == 13
    assert path.crawler_runs == 1
    assert path.sdk_calls["aws-sdk:glue:getCrawler"] == 2


def test_load_deployment_reads_memory_workers_and_substitutions_from_the_template(app_dir: Path) -> None:
    deployment = load_deployment(app_dir / "template.sam.yaml")

    validate = deployment.functions["ValidateFunction"]
    assert (validate.memory_mb, validate.architecture, validate.ephemeral_mb) == (2048, "arm64", 1536)
    register = deployment.functions["RegisterFunction"]
    assert (register.memory_mb, register.architecture, register.ephemeral_mb) == (256, "x86_64", 512)
    assert (deployment.glue_job.worker_type, deployment.glue_job.workers) == ("G.2X", 3)
    assert deployment.glue_job.dpus == 6.0  # 3 workers x 2 DPU
    assert deployment.glue_job.executor_cores == 16.0  # 2 executors x 2 DPU x 4 vCPU
    assert deployment.placeholders == PLACEHOLDERS
    assert deployment.traced is True
    # the Glue job's maxRecordsPerFile, from sluice_lib.curated
    assert deployment.max_records_per_file == 5_000_000


def test_estimate_small_file_bills_the_template_workers_for_one_minute(app_dir: Path) -> None:
    deployment = load_deployment(app_dir / "template.sam.yaml")

    result = estimate(deployment, 1_000_000, 8_000, serving=False)

    lines = {line.service: line for line in result.lines}
    # 3 x G.2X = 6 DPU, a short job billed 60 s: 360 DPU-seconds, 6 x 60 / 3600 x $0.44 = $0.044
    assert lines["Glue job"].quantity == 360.0
    assert lines["Glue job"].usd == pytest.approx(0.044)
    # 6 states on the default path x $0.000025
    assert lines["Step Functions"].usd == pytest.approx(0.00015)
    assert "Glue crawler" not in lines
    assert "DynamoDB" in lines  # the runs ledger
    assert result.dominant().service == "Glue job"


def test_load_deployment_repository_template_runs_glue_6_billed_per_second_after_one_minute() -> None:
    job = load_deployment(ROOT / "template.sam.yaml").glue_job

    assert (job.glue_version, job.minimum_s) == ("6.0", 60.0)
    assert replace(job, glue_version="1.0").minimum_s == 600.0  # Glue 0.9 and 1.0 billed ten minutes


def test_estimate_glue_line_names_the_glue_version_and_its_billed_seconds() -> None:
    deployment = load_deployment(ROOT / "template.sam.yaml")

    no_small_files = {**deployment.parameters, "SmallFileMaxBytes": "0"}
    forced = estimate(replace(deployment, parameters=no_small_files), 1_000_000)

    glue = next(line for line in forced.lines if line.service == "Glue job")
    assert glue.what.startswith("Glue 6.0, 2 x G.1X: ")
    assert glue.what.endswith(", 60 s billed")


def test_estimate_crawling_every_file_adds_a_ten_minute_crawl(app_dir: Path) -> None:
    deployment = load_deployment(app_dir / "template.sam.yaml")

    result = estimate(
        deployment, 1_000_000, 8_000, serving=False, scenario=Scenario("crawl", schema_changed=True)
    )

    crawl = next(line for line in result.lines if line.service == "Glue crawler")
    # one crawl x 2 DPU x 600 s = 1200 DPU-seconds = $0.1466667
    assert crawl.quantity == 1200.0
    assert crawl.usd == pytest.approx(0.1466667, rel=1e-6)
    assert result.path.transitions == 13


def test_estimate_serving_writes_one_wru_per_valid_row(app_dir: Path) -> None:
    deployment = load_deployment(app_dir / "template.sam.yaml")

    result = estimate(deployment, 1_000_000, 8_000, bad_rate=0.25, serving=True)

    serving = next(line for line in result.lines if line.what == "serving items")
    # 8,000 rows, a quarter bad: 6,000 items x 1 WRU x $0.625 per million = $0.00375
    assert serving.quantity == 6000
    assert serving.usd == pytest.approx(0.00375)


def test_cost_command_json_gives_every_scenario_for_the_repository_template() -> None:
    result = CliRunner().invoke(app, ["cost", "--bytes", "1MB", "--files-per-day", "10", "--json"])

    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["bytes"] == 1_000_000
    assert payload["rows"] == 8065  # 1,000,000 / 124 bytes per offers row
    names = [s["scenario"] for s in payload["scenarios"]]
    assert len(names) == 6
    assert names[2] == "sluice: crawler on every file (Lambda engine: up to SmallFileMaxBytes 100 MB)"
    first = payload["scenarios"][0]
    assert first["usd_per_month"] == pytest.approx(first["usd_per_execution"] * 300)
    assert "Glue crawler" not in first["by_service"]
    assert "Glue crawler" in payload["scenarios"][2]["by_service"]


def test_cost_command_bad_size_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["cost", "--bytes", "a lot"])

    assert result.exit_code == 2
    assert "not a size" in result.output


def test_estimate_one_megabyte_offers_file_takes_the_lambda_engine_and_meets_the_one_cent_target() -> None:
    deployment = load_deployment(ROOT / "template.sam.yaml")

    result = estimate(deployment, 1_000_000)

    assert result.engine == "lambda"
    assert "TransformInLambda" in result.path.states and "Transform" not in result.path.states
    assert "Glue job" not in result.by_service()
    transform = next(line for line in result.lines if line.what.startswith("TransformInLambda"))
    # 1 s cold start + 0.3 s + 1 MB x 0.031 s + (0.45 + 0.9) MB / 80 MB/s = 1.347875 s at 1769 MB:
    # 1769 / 1024 x 1.347875 = 2.328507 GB-s x $0.0000133334 (arm64) + $0.0000002 request
    # + 1536 MB of /tmp above 512 / 1024 x 1.347875 s x $0.0000000309
    assert transform.what == "TransformInLambda: 1 call, 1769 MB arm64"
    assert transform.quantity == pytest.approx(2.328507, rel=1e-5)
    assert transform.usd == pytest.approx(
        2.328507 * 0.0000133334 + 0.0000002 + 2.0218125 * 0.0000000309, rel=1e-5
    )
    assert result.total < 0.01


def test_estimate_engine_follows_the_threshold_and_the_contract() -> None:
    deployment = load_deployment(ROOT / "template.sam.yaml")

    assert deployment.small_file_max_bytes == 100_000_000
    assert estimate(deployment, 100_000_000).engine == "lambda"
    assert estimate(deployment, 100_000_001).engine == "glue"
    needs_spark = estimate(deployment, 1_000_000, blockers=["transform.filter"])
    assert needs_spark.engine == "glue"
    glue = next(line for line in needs_spark.lines if line.service == "Glue job")
    assert glue.usd == pytest.approx(2 * 60 / 3600 * 0.44)  # 2 x G.1X for the 1-minute minimum


def test_estimate_template_without_the_lambda_transform_state_stays_on_glue(app_dir: Path) -> None:
    deployment = load_deployment(app_dir / "template.sam.yaml")

    assert deployment.has_lambda_transform is False
    assert estimate(deployment, 1_000).engine == "glue"


def test_cost_command_dataset_that_needs_spark_sql_is_costed_on_glue_without_serving() -> None:
    result = CliRunner().invoke(app, ["cost", "--bytes", "1MB", "--dataset", "signups", "--json"])

    assert result.exit_code == 0, result.output
    first = json.loads(result.output)["scenarios"][0]
    assert first["engine"] == "glue"
    assert first["scenario"] == "sluice: schema unchanged, crawler skipped (Glue 2 x G.1X)"
    assert not any(line["what"] == "serving items" for line in first["lines"])


def test_estimate_fanned_out_load_bills_the_serving_work_to_the_load_serving_batch_function() -> None:
    deployment = load_deployment(ROOT / "template.sam.yaml")

    # 80M rows > LoadServingItems 1M (and 26 files > LoadFanOutFiles 20): 80 Map items of 1M rows.
    result = estimate(deployment, 10_000_000_000, 80_000_000)

    lambdas = {line.what: line.quantity for line in result.lines if line.service == "Lambda"}
    # Load: 1 s cold start + 1 s publishing, no serving items; at 1769 MB.
    assert lambdas["Load: 1 call, 1769 MB arm64"] == pytest.approx(1769 / 1024 * 2.0)
    # The Map's items: 80 cold starts + 80,000,000 items / 4,000 per s, at 1769 MB: 251 s a call.
    assert lambdas["LoadServingBatch: 80 calls, 1769 MB arm64"] == pytest.approx(1769 / 1024 * 20_080.0)
    assert result.warnings == []
