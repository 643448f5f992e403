"""For each role of the template, a run without one statement the role's code needs fails with AccessDenied,
at the state that makes the call: the enforcement is shown to bite for every role, not only to let the
pipeline through.

Generated from template.sam.yaml and the ASL: each `AWS::IAM::Role` with inline policies, the component the
template gives it (a function, the Glue job, the crawler), the state that runs that component, and the
role's first statement that grants a call the code makes (preferring one without a condition, not under
`Fn::If`, not only `s3:ListBucket`, with an action the emulation can see: sluice.local.iam.report.NOT_EMULATED
lists the others). The state machine's role is SAM's, made from its policy templates: its first
`LambdaInvokePolicy` goes, and the state that invokes that function fails. Only the run that exercises each
component is chosen here (`SCENARIOS`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from offers_rows import OFFERS_HEADER, offers_row

from sluice.local.emulator import Emulator
from sluice.local.faults import injected, parse_fault
from sluice.local.iam.report import not_emulated
from sluice.local.runner import RunInput, Runner
from sluice.local.template import SamApp
from sluice.paths import repo_root

pytestmark = [pytest.mark.emulator, pytest.mark.spark]

APP = SamApp.load(repo_root() / "template.sam.yaml")
ASL = json.loads(next(iter(APP.definition_files.values())).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Removal:
    role: str  # the role's logical id
    component: str  # the function, job or crawler the template gives it
    sid: str  # the statement taken out
    state: str  # where the execution fails (None for OnExecutionFailed: it runs after the execution)


def _get_att_arn(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        logical, attr = target.split(".", 1) if isinstance(target, str) else target
        return str(logical) if attr == "Arn" else None
    return None


def _component(role: str) -> str:
    for name, res in APP.sam["Resources"].items():
        kinds = ("AWS::Serverless::Function", "AWS::Glue::Job", "AWS::Glue::Crawler")
        if res["Type"] in kinds and _get_att_arn(res["Properties"].get("Role")) == role:
            return name
    raise LookupError(f"no component has role {role}")


def _state(component: str) -> str:
    """The top-level state whose task runs the component (a Map's, for a task inside a Map)."""
    kind = APP.sam["Resources"][component]["Type"]
    machine = next(r for r in APP.sam["Resources"].values() if r["Type"] == "AWS::Serverless::StateMachine")
    placeholders = {
        k for k, v in machine["Properties"]["DefinitionSubstitutions"].items() if _get_att_arn(v) == component
    }

    def runs_it(state: dict[str, Any]) -> bool:
        if kind == "AWS::Glue::Job":
            return str(state.get("Resource", "")).startswith("arn:aws:states:::glue:startJobRun")
        if kind == "AWS::Glue::Crawler":
            return False
        function = (state.get("Parameters") or state.get("Arguments") or {}).get("FunctionName", "")
        return any(function == "${" + p + "}" for p in placeholders)

    for name, state in ASL["States"].items():
        inner = state.get("ItemProcessor", {}).get("States", {})
        if runs_it(state) or any(runs_it(s) for s in inner.values()):
            return name
    if kind == "AWS::Glue::Crawler":  # a failed crawl ends in the Fail state for CrawlFailedError
        return next(n for n, s in ASL["States"].items() if s.get("Error") == "CrawlFailedError")
    return ""  # not run by a state (OnExecutionFailed: EventBridge invokes it after the execution)


def _needed_sid(component: str, statements: list[Any]) -> str:
    """The first statement without a condition that qualifies; failing that, the first with one (a role
    whose every grant is scoped by a condition the emulation evaluates, like TakeLease's
    `dynamodb:LeadingKeys`)."""
    plain = [s for s in statements if isinstance(s, dict) and "Sid" in s and "Condition" not in s]
    scoped = [s for s in statements if isinstance(s, dict) and "Sid" in s and "Condition" in s]
    for statement in [*plain, *scoped]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if set(actions) <= {"s3:ListBucket", "s3:GetBucketLocation"}:
            continue  # without it a missing object reads as AccessDenied, not NoSuchKey: no call of a run needs it
        if any(not_emulated(component, action, statement["Sid"]) is None for action in actions):
            return str(statement["Sid"])
    raise LookupError("no statement the emulation can see")


def _removals() -> list[Removal]:
    found = []
    for name, res in APP.sam["Resources"].items():
        if res["Type"] != "AWS::IAM::Role" or not res["Properties"].get("Policies"):
            continue
        statements = res["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        component = _component(name)
        found.append(Removal(name, component, _needed_sid(component, statements), _state(component)))
    return found


def _state_machine_removal() -> Removal:
    """The state machine's role is SAM's, made from its Policies: take out the first LambdaInvokePolicy."""
    name, machine = next(
        (n, r) for n, r in APP.sam["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"
    )
    first = next(
        p for p in machine["Properties"]["Policies"] if isinstance(p, dict) and "LambdaInvokePolicy" in p
    )
    function = first["LambdaInvokePolicy"]["FunctionName"]["Ref"]
    return Removal(f"{name}Role", name, f"LambdaInvokePolicy:{function}", _state(function))


REMOVALS = [*_removals(), _state_machine_removal()]


def _without(removal: Removal) -> SamApp:
    app = copy.copy(APP)
    app.sam = copy.deepcopy(APP.sam)
    if removal.sid.startswith("LambdaInvokePolicy:"):
        function = removal.sid.split(":", 1)[1]
        props = app.sam["Resources"][removal.component]["Properties"]
        props["Policies"] = [
            p for p in props["Policies"] if p != {"LambdaInvokePolicy": {"FunctionName": {"Ref": function}}}
        ]
        return app
    document = app.sam["Resources"][removal.role]["Properties"]["Policies"][0]["PolicyDocument"]
    document["Statement"] = [
        s for s in document["Statement"] if not (isinstance(s, dict) and s.get("Sid") == removal.sid)
    ]
    return app


def _offers(folder: Path, name: str, rows: int, bad: int = 0) -> Path:
    # Three months: three curated partitions, so a LoadFanOutFiles of 1 fans the serving load out.
    lines = [offers_row(i, created=f"2026-0{i % 3 + 1}-04T05:06:07+00:00") for i in range(rows)] + [
        offers_row(rows + i, account="not-a-number") for i in range(bad)
    ]
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OFFERS_HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


# What each component needs to run: template parameters, the uploads, a fault that fails the execution.
SCENARIOS: dict[str, dict[str, Any]] = {
    "TransformJob": {"parameters": {"SmallFileMaxBytes": "0"}},
    "RegisterPartitionFunction": {"uploads": 2},  # the second upload of an unchanged schema skips the crawl
    "RejectFileFunction": {"bad": 40},  # most rows bad: the file is rejected
    "LoadServingBatchFunction": {"parameters": {"LoadFanOutFiles": "1"}},
    "OnExecutionFailedFunction": {"fault": "Archive=States.Timeout"},
    # The fanned-out Validate: a 12-row file (about 2 KB) cut into 600-byte ranges.
    **{
        f: {"parameters": {"ValidateChunkBytes": "600"}}
        for f in ("ScanRangeFunction", "PlanChunksFunction", "ValidateChunkFunction", "MergeChunksFunction")
    },
}


@pytest.mark.parametrize("removal", REMOVALS, ids=lambda r: f"{r.role}-{r.sid}")
def test_role_without_a_needed_statement_fails_with_access_denied_at_its_state(
    removal: Removal, tmp_path: Path
) -> None:
    scenario = SCENARIOS.get(removal.component, {})
    inputs = [
        RunInput("offers", _offers(tmp_path / str(i), f"offers-{i}.csv", rows=12, bad=scenario.get("bad", 0)))
        for i in range(scenario.get("uploads", 1))
    ]
    faults = [parse_fault(scenario["fault"])] if "fault" in scenario else []
    with (
        Emulator(
            log_file=tmp_path / "lambda.log",
            parameters=scenario.get("parameters"),
            template=_without(removal),
        ) as emu,
        injected(emu, faults) as injector,
    ):
        results = Runner(emu, lambda _: None, faults=injector).run(inputs)
        assert emu.iam is not None
        denials = list(emu.iam.denials)
        failed_handlers = [i for i in emu.lambdas.invocations if i.function.endswith("on-execution-failed")]

    last = results[-1]
    assert any(removal.component in d and "is not authorized to perform" in d for d in denials), denials
    if removal.state:
        assert last.status == "FAILED", (last.status, denials)
        assert last.states[-1].name == removal.state
        state = ASL["States"][removal.state]
        if (
            state["Type"] == "Map"
        ):  # the item failed with AccessDenied; the Map reports the threshold, as on AWS
            assert last.error["type"] == "States.ExceedToleratedFailureThreshold"
        elif (
            state["Type"] == "Fail"
        ):  # the crawl failed with AccessDenied; the workflow fails with its own error
            assert last.error["type"] == state["Error"]
        else:
            assert "AccessDenied" in json.dumps(last.error), last.error
    else:
        assert failed_handlers
        assert {i.error_type for i in failed_handlers} == {"ClientError"}
