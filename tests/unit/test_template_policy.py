"""Least privilege in template.sam.yaml, checked on the template and on what the SAM transform makes of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.local.template import SamApp

TEMPLATE = Path(__file__).resolve().parents[2] / "template.sam.yaml"

# Actions that take no resource-level permissions: the only ones allowed on Resource "*", each with why.
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments": "X-Ray has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray has no resource-level permissions",
    "cloudwatch:PutMetricData": "CloudWatch metrics have no resource ARNs (the template conditions on namespace)",
    "logs:CreateLogDelivery": "vended log delivery (Step Functions logging) has no resource-level permissions",
    "logs:GetLogDelivery": "vended log delivery has no resource-level permissions",
    "logs:UpdateLogDelivery": "vended log delivery has no resource-level permissions",
    "logs:DeleteLogDelivery": "vended log delivery has no resource-level permissions",
    "logs:ListLogDeliveries": "vended log delivery has no resource-level permissions",
    "logs:PutResourcePolicy": "log resource policies have no resource-level permissions",
    "logs:DescribeResourcePolicies": "log resource policies have no resource-level permissions",
    "logs:DescribeLogGroups": "DescribeLogGroups lists every group: no resource-level permissions",
}
# AWS managed policies a role may carry, each with why.
MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": "SAM attaches it to the state machine role for Tracing",
}
# Policy documents whose statements act on the resource they are attached to: "*" there means that resource.
RESOURCE_POLICY_TYPES = {"AWS::KMS::Key", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"}


def _branches(node: Any) -> Iterator[Any]:
    """Every statement a (possibly Fn::If-wrapped, AWS::NoValue-holding) list element may become."""
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        for branch in node["Fn::If"][1:]:
            yield from _branches(branch)
    elif node != {"Ref": "AWS::NoValue"}:
        yield node


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _documents(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    props = resource.get("Properties", {})
    kind = resource["Type"]
    if kind == "AWS::IAM::Role":
        for policy in props.get("Policies", []):
            yield policy["PolicyDocument"]
    elif kind in (
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy",
    ):
        yield props["PolicyDocument"]
    elif kind == "AWS::KMS::Key":
        yield props["KeyPolicy"]
    elif kind == "AWS::SNS::TopicPolicy":
        yield props["PolicyDocument"]


def statements(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(resource, type, statement) for every statement of every policy document in `template`."""
    for name, resource in template["Resources"].items():
        for document in _documents(resource):
            for element in _as_list(document["Statement"]):
                for statement in _branches(element):
                    yield name, resource["Type"], statement


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return SamApp.load(TEMPLATE).sam


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return SamApp.load(TEMPLATE).to_cloudformation("us-east-1")


def wildcard_actions(template: dict[str, Any]) -> list[str]:
    found = []
    for name, _, statement in statements(template):
        if statement.get("Effect") != "Allow":
            continue  # a Deny may cover every action (the buckets' TLS-only statement does)
        found += [f"{name}: {a}" for a in _as_list(statement.get("Action", [])) if "*" in a]
    return found


def test_template_allow_statements_name_every_action_without_wildcards(sam: dict[str, Any]) -> None:
    assert wildcard_actions(sam) == []


def test_translated_template_allow_statements_name_every_action_without_wildcards(
    cfn: dict[str, Any],
) -> None:
    # SAM policy templates expand here (e.g. SQSSendMessagePolicy grants sqs:SendMessage*).
    assert wildcard_actions(cfn) == []


def test_translated_template_star_resources_only_for_actions_without_resource_permissions(
    cfn: dict[str, Any],
) -> None:
    offending = []
    for name, kind, statement in statements(cfn):
        if statement.get("Effect") != "Allow" or kind in RESOURCE_POLICY_TYPES:
            continue
        if "*" in _as_list(statement.get("Resource", [])):
            offending += [
                f"{name}: {a}" for a in _as_list(statement["Action"]) if a not in STAR_RESOURCE_ACTIONS
            ]
    assert offending == []


def test_translated_template_roles_carry_only_allow_listed_managed_policies(cfn: dict[str, Any]) -> None:
    attached = {
        str(arn): name
        for name, resource in cfn["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        for arn in resource["Properties"].get("ManagedPolicyArns", [])
    }
    assert set(attached) <= set(MANAGED_POLICIES)
    assert set(attached.values()) <= {"PipelineStateMachineRole"}


def test_template_functions_use_their_own_roles_not_sam_policies(sam: dict[str, Any]) -> None:
    functions = {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert len(functions) == 13
    for name, function in functions.items():
        props = function["Properties"]
        # With Role set, SAM ignores Policies silently: a statement added there would never apply.
        assert "Policies" not in props, name
        assert props["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}, name


def test_template_every_function_has_a_log_group_with_retention_and_key(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    groups = {
        str(r["Properties"]["LogGroupName"]): r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            props = groups[str({"Fn::Sub": f"/aws/lambda/${{{name}}}"})]
            assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
            assert props["KmsKeyId"] == {"Fn::GetAtt": ["PipelineKey", "Arn"]}
    pipeline = groups[str({"Fn::Sub": "/aws/vendedlogs/states/sluice-${EnvironmentName}-pipeline"})]
    assert pipeline["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_function_roles_write_only_to_their_own_log_group(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        function_name = resource["Properties"]["FunctionName"]["Fn::Sub"]  # sluice-${EnvironmentName}-<step>
        role = {"Resources": {f"{name}Role": resources[f"{name}Role"]}}
        log_statements = [
            s for _, _, s in statements(role) if any(a.startswith("logs:") for a in s["Action"])
        ]
        assert len(log_statements) == 1, name
        assert log_statements[0]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
        assert log_statements[0]["Resource"]["Fn::Sub"].endswith(f":log-group:/aws/lambda/{function_name}:*")


def test_buckets_deny_requests_without_tls(sam: dict[str, Any]) -> None:
    resources = sam["Resources"]
    for bucket in ("RawBucket", "LakeBucket"):
        policy = resources[f"{bucket}Policy"]["Properties"]
        assert policy["Bucket"] == {"Ref": bucket}
        (statement,) = policy["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_policy_check_flags_a_star_action_and_a_star_resource() -> None:
    # The checks above see what they are meant to: a template with both faults fails both.
    bad = {
        "Resources": {
            "R": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [
                        {
                            "PolicyDocument": {
                                "Statement": [
                                    {
                                        "Fn::If": [
                                            "C",
                                            {
                                                "Effect": "Allow",
                                                "Action": "s3:*",
                                                "Resource": "arn:aws:s3:::b",
                                            },
                                            {"Ref": "AWS::NoValue"},
                                        ]
                                    },
                                    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
                                ]
                            }
                        }
                    ]
                },
            }
        }
    }
    assert wildcard_actions(bad) == ["R: s3:*"]
    assert [s["Action"] for _, _, s in statements(bad) if s["Resource"] == "*"] == [["s3:GetObject"]]
