"""statemachine/pipeline.asl.json stays in step with the error classes and the template that binds it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from sluice_lib import errors
from sluice_lib.errors import REJECTION_ERRORS

ROOT = Path(__file__).resolve().parents[2]
ASL_TEXT = (ROOT / "statemachine" / "pipeline.asl.json").read_text(encoding="utf-8")
ASL = json.loads(ASL_TEXT)
STATES: dict[str, Any] = ASL["States"]


def catches(state: dict[str, Any]) -> dict[str, str]:
    """Error name -> the state its Catch goes to."""
    return {name: rule["Next"] for rule in state.get("Catch", []) for name in rule["ErrorEquals"]}


def test_validate_catch_routes_exactly_the_rejection_errors_to_reject_file():
    to_reject = {name for name, target in catches(STATES["Validate"]).items() if target == "RejectFile"}

    assert to_reject == {cls.__name__ for cls in REJECTION_ERRORS}
    assert to_reject == {
        "EmptyFileError",
        "NotUtf8Error",
        "MalformedCsvError",
        "MissingColumnsError",
        "DuplicateColumnsError",
        "UnknownDatasetError",
        "TooManyBadRowsError",
        "FileTooLargeError",
        "QualityRuleError",
    }


def test_merge_chunks_catches_what_validate_catches():
    """The fanned-out Validate ends in MergeChunks: its rejections and duplicates go where Validate's go."""
    assert catches(STATES["MergeChunks"]) == catches(STATES["Validate"])


def test_every_error_name_a_catch_matches_is_an_error_class_of_sluice_lib():
    names = {name for state in STATES.values() for name in catches(state)}

    assert names - {n for n in dir(errors) if n.endswith("Error")} == set()


def test_duplicate_executions_end_in_the_duplicate_succeed_state_from_every_step_that_checks_ownership():
    for step in ("Validate", "Load", "Archive"):
        assert catches(STATES[step])["DuplicateExecutionError"] == "Duplicate", step
    assert STATES["Duplicate"]["Type"] == "Succeed"


def test_load_fans_out_serving_through_a_distributed_map_reading_its_items_from_s3():
    assert STATES["Load"]["Next"] == "ServingFannedOut?"
    choice = STATES["ServingFannedOut?"]
    assert choice["Choices"] == [
        {"Variable": "$.load.result.fanned_out", "BooleanEquals": True, "Next": "LoadServing"}
    ]
    assert choice["Default"] == "Archive"
    fan_out = STATES["LoadServing"]
    assert fan_out["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert fan_out["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert fan_out["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert fan_out["Next"] == "Archive"
    # Thousands of children's results would pass a state's 256 KiB: each leaves its count in S3 for Archive.
    assert fan_out["ResultPath"] is None
    assert set(STATES["Archive"]["Parameters"]["Payload"]) == {"run.$", "load.$"}
    assert (
        STATES["Load"]["Parameters"]["Payload"]["fan_out_rows.$"]
        == "States.StringToJson('${LoadServingItems}')"
    )


def test_every_placeholder_of_the_asl_is_bound_by_the_templates_definition_substitutions():
    template = yaml_parse((ROOT / "template.sam.yaml").read_text(encoding="utf-8"))
    bound = template["Resources"]["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]

    used = set(re.findall(r"\$\{(\w+)\}", ASL_TEXT))

    assert used - set(bound) == set()
    assert {"MapMaxConcurrency", "LoadFanOutFiles", "LoadServingItems"} <= used
    assert bound["MapMaxConcurrency"] == {"Ref": "MapMaxConcurrency"}
    assert bound["LoadFanOutFiles"] == {"Ref": "LoadFanOutFiles"}
    assert bound["LoadServingItems"] == {"Ref": "LoadServingItems"}


def test_take_lease_keeps_the_publish_generation_in_lease_and_load_is_given_it():
    assert STATES["TakeLease"]["ResultPath"] == "$.lease"
    assert STATES["TakeLease"]["ResultSelector"] == {
        "held.$": "$.Payload.held",
        "generation.$": "$.Payload.generation",
    }
    assert STATES["Load"]["Parameters"]["Payload"]["lease.$"] == "$.lease"


def test_a_stale_merge_is_neither_retried_nor_caught_so_the_execution_fails_at_load():
    retried = {name for rule in STATES["Load"].get("Retry", []) for name in rule["ErrorEquals"]}

    assert "StaleMergeError" not in retried
    assert retried.isdisjoint({"States.ALL", "States.TaskFailed"})
    assert "StaleMergeError" not in catches(STATES["Load"])
    assert "States.ALL" not in catches(STATES["Load"])
    assert hasattr(errors, "StaleMergeError")


def test_load_waits_for_the_merge_lease_as_take_lease_does():
    """A redriven Load takes the lease again: DatasetBusyError is retried with TakeLease's rule."""
    busy = [rule for rule in STATES["Load"]["Retry"] if rule["ErrorEquals"] == ["DatasetBusyError"]]

    assert busy == [STATES["TakeLease"]["Retry"][0]]
