"""The per-role IAM report of an emulation: the actions each role used, and those it is granted and never used.

Written to the run's output folder as `iam.json` (`sluice iam report` reads it back). Each role's Allow
statements are listed action by action (as the template writes them: a pattern stays a pattern) with the
calls they authorised; an action no call used is `unused`, or `not emulated` when only AWS itself makes it
for the role (the Lambda service writing the function's logs, Glue fetching the job's script): the offline
run cannot see those calls, so such a grant is justified by the reason given, not by evidence.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the report is read without loading moto (`sluice iam report`)
    from sluice.local.iam.enforce import Enforcer

REPORT_NAME = "iam.json"

# (component, action, statement Sid) patterns -> why no offline call can use the grant: AWS itself makes the call
# for the role, or code that only runs on AWS does (Glue's crawler, Spark's S3 and catalog clients).
NOT_EMULATED: list[tuple[str, str, str, str]] = [
    (
        "*",
        "logs:*",
        "*",
        "the service (Lambda, Glue, Step Functions) delivers the role's logs; none offline",
    ),
    (
        "*",
        "kms:*",
        "Notify*",
        "SNS encrypts a message with the topic's key on the publisher's behalf; moto's SNS does not encrypt",
    ),
    (
        "PipelineStateMachine",
        "kms:*",
        "*",
        "SNS encrypts a message with the topic's key on the publisher's behalf; moto's SNS does not encrypt",
    ),
    ("*", "xray:*", "*", "the Lambda runtime sends traces; tracing is off offline"),
    (
        "*",
        "s3:GetBucketLocation",
        "*",
        "Glue's and Spark's S3 clients ask for the bucket's region; offline they are boto3",
    ),
    (
        "OnExecutionFailedFunction",
        "sqs:SendMessage",
        "OnFailureDestination",
        "Lambda sends a failed asynchronous invocation to the on-failure destination with the function's role",
    ),
    (
        "PipelineStateMachine",
        "states:*",
        "*",
        "a Distributed Map runs its items as child executions on AWS; moto runs them in the parent execution",
    ),
    (
        "PipelineStateMachine",
        "glue:*JobRun*",
        "*",
        "glue:startJobRun.sync stops the run when the execution stops and may list runs; no local run is stopped",
    ),
    ("TransformJob", "cloudwatch:PutMetricData", "*", "Glue publishes the job's metrics (--enable-metrics)"),
    (
        "TransformJob",
        "kms:*",
        "EncryptBookmarks",
        "Glue encrypts the job's logs and bookmarks (security configuration)",
    ),
    (
        "TransformJob",
        "s3:GetObject",
        "ReadScript",
        "Glue fetches the job's script; offline it runs from glue/",
    ),
    (
        "TransformJob",
        "s3:*",
        "WriteRunOutputAndTemp",
        "Spark's output committer reads back and deletes its temporary files; offline the job writes a local folder",
    ),
    (
        "TransformJob",
        "glue:*",
        "ReadCatalog",
        "Spark's Glue catalog client (--enable-glue-datacatalog) looks databases and partitions up; local Spark has none",
    ),
    (
        "StagingCrawler",
        "glue:*",
        "MaintainStagingTables",
        "AWS's crawler chooses its catalog calls; the local crawler makes only GetTable, CreateTable, UpdateTable, "
        "GetPartitions and CreatePartition",
    ),
]


def _matches(pattern: str, value: str) -> bool:
    text = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(text, value, re.IGNORECASE) is not None


def not_emulated(component: str, action: str, sid: str) -> str | None:
    """Why no offline call can use this grant, or None when one can."""
    for component_pattern, action_pattern, sid_pattern, reason in NOT_EMULATED:
        if (
            _matches(component_pattern, component)
            and _matches(action_pattern, action)
            and _matches(sid_pattern, sid)
        ):
            return reason
    return None


def build(enforcer: Enforcer) -> dict[str, Any]:
    """{"roles": [{"component", "role", "grants": [...], "used": [...], "denied": [...]}], "denials": [...]}"""
    uses_by_role: dict[str, list[Any]] = defaultdict(list)
    for use, count in enforcer.uses.items():
        uses_by_role[use.role].append((use, count))
    roles = []
    for component, identity in sorted(enforcer.roles().items()):
        uses = uses_by_role.get(component, [])
        grants = []
        for statement in identity.statements:
            if statement.effect != "Allow":
                continue
            for action in statement.actions():
                calls = sum(
                    count
                    for use, count in uses
                    if use.allowed
                    and (statement.policy, statement.sid) in use.statements
                    and _matches(action, use.action)
                )
                reason = None if calls else not_emulated(component, action, statement.sid)
                grants.append(
                    {
                        "policy": statement.policy,
                        "sid": statement.sid,
                        "action": action,
                        "calls": calls,
                        "status": "used" if calls else ("not emulated" if reason else "unused"),
                        **({"reason": reason} if reason else {}),
                    }
                )
        used = sorted(
            (
                {"action": use.action, "resource": use.resource, "calls": count}
                for use, count in uses
                if use.allowed
            ),
            key=lambda u: (u["action"], u["resource"]),
        )
        denied = sorted(
            (
                {"action": use.action, "resource": use.resource, "calls": count}
                for use, count in uses
                if not use.allowed
            ),
            key=lambda u: (u["action"], u["resource"]),
        )
        roles.append(
            {
                "component": component,
                "role": identity.role_name,
                "grants": grants,
                "used": used,
                "denied": denied,
            }
        )
    return {"roles": roles, "denials": list(enforcer.denials)}


def write(enforcer: Enforcer, out_dir: Path) -> Path:
    path = out_dir / REPORT_NAME
    path.write_text(json.dumps(build(enforcer), indent=1) + "\n", encoding="utf-8")
    return path


def summary(enforcer: Enforcer, out_dir: Path) -> dict[str, Any]:
    """Writes the report and returns what a run's summary says of it."""
    path = write(enforcer, out_dir)
    built = json.loads(path.read_text(encoding="utf-8"))
    return {
        "report": str(path),
        "roles": len(built["roles"]),
        "unused_grants": sum(1 for r in built["roles"] for g in r["grants"] if g["status"] == "unused"),
        "denied": built["denials"],
    }


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs' reports as one: calls summed per role, grant and resource; a grant any run used is used."""
    roles: dict[str, dict[str, Any]] = {}
    for one in reports:
        for role in one["roles"]:
            merged = roles.setdefault(
                role["component"],
                {
                    "component": role["component"],
                    "role": role["role"],
                    "grants": {},
                    "used": {},
                    "denied": {},
                },
            )
            for grant in role["grants"]:
                key = (grant["policy"], grant["sid"], grant["action"])
                known = merged["grants"].setdefault(key, {**grant, "calls": 0})
                known["calls"] += grant["calls"]
                known["status"] = "used" if known["calls"] else grant["status"]
                if known["calls"]:
                    known.pop("reason", None)
            for kind in ("used", "denied"):
                for call in role[kind]:
                    merged[kind].setdefault((call["action"], call["resource"]), {**call, "calls": 0})[
                        "calls"
                    ] += call["calls"]
    return {
        "roles": [
            {
                **role,
                "grants": list(role["grants"].values()),
                "used": list(role["used"].values()),
                "denied": list(role["denied"].values()),
            }
            for _, role in sorted(roles.items())
        ],
        "denials": [d for one in reports for d in one.get("denials", [])],
    }


def load(out_dir: Path) -> dict[str, Any]:
    path = out_dir / REPORT_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no IAM report there (it is written by `sluice run` or `sluice up` without --no-iam)"
        )
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def render(report: dict[str, Any]) -> str:
    """The report as text: per role, each granted action with its calls, unused and not-emulated ones marked."""
    lines = []
    for role in report["roles"]:
        lines.append(f"{role['component']} ({role['role']})")
        for grant in role["grants"]:
            mark = {"used": "✓", "unused": "✗", "not emulated": "·"}[grant["status"]]
            detail = f"{grant['calls']} calls" if grant["calls"] else grant["status"]
            if grant.get("reason"):
                detail += f": {grant['reason']}"
            where = grant["sid"] if not grant["sid"].startswith("#") else f"{grant['policy']}{grant['sid']}"
            lines.append(f"  {mark} {grant['action']:<32} {where:<34} {detail}")
        for denied in role["denied"]:
            lines.append(f"  DENIED {denied['action']} on {denied['resource']} ({denied['calls']} calls)")
        lines.append("")
    unused = sum(1 for r in report["roles"] for g in r["grants"] if g["status"] == "unused")
    denied = sum(len(r["denied"]) for r in report["roles"])
    lines.append(f"{len(report['roles'])} roles, {unused} unused grants, {denied} denied actions")
    return "\n".join(lines)
