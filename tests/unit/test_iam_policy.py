"""sluice.local.iam.policy: AWS's evaluation logic for the statements the template writes."""

from __future__ import annotations

from typing import Any

from sluice.local.iam.policy import ContextValue, Decision, evaluate, statements

ROLE = "arn:aws:iam::123456789012:role/r"
LAKE = "arn:aws:s3:::lake"


def _decide(
    body: list[dict[str, Any]],
    action: str,
    resource: str,
    context: dict[str, ContextValue] | None = None,
    bucket: list[dict[str, Any]] | None = None,
) -> Decision:
    identity = statements("p", {"Statement": body})
    resource_policy = statements("bucket", {"Statement": bucket or []})
    return evaluate(identity, resource_policy, [ROLE], action, resource, context or {})


def test_policy_allow_on_a_prefix_pattern_allows_keys_under_it_only() -> None:
    allow = [{"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{LAKE}/staging/*"}]

    inside = _decide(allow, "s3:GetObject", f"{LAKE}/staging/offers/a.parquet")
    outside = _decide(allow, "s3:GetObject", f"{LAKE}/curated/offers/a.parquet")

    assert inside.allowed
    assert [s.sid for s in inside.allowed_by] == ["Read"]
    assert not outside.allowed
    assert outside.reason() == "because no identity-based policy allows the s3:GetObject action"


def test_policy_action_names_match_case_insensitively_and_with_wildcards() -> None:
    allow = [{"Effect": "Allow", "Action": "glue:Get*", "Resource": "*"}]

    assert _decide(allow, "glue:gettable", "arn:aws:glue:us-east-1:1:table/db/t").allowed
    assert not _decide(allow, "glue:CreateTable", "arn:aws:glue:us-east-1:1:table/db/t").allowed


def test_policy_allow_whose_condition_fails_is_neutral_not_a_deny() -> None:
    body = [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": LAKE,
            "Condition": {"StringLike": {"s3:prefix": ["curated/*"]}},
        },
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": LAKE},
    ]

    decision = _decide(body, "s3:ListBucket", LAKE, {"s3:prefix": "staging/offers/"})

    assert decision.allowed
    assert decision.denied_by is None
    assert [s.sid for s in decision.allowed_by] == ["#1"]


def test_policy_condition_on_a_key_the_request_lacks_does_not_hold_and_is_reported() -> None:
    body = [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": LAKE,
            "Condition": {"StringLike": {"s3:prefix": ["curated/*"]}},
        }
    ]

    decision = _decide(body, "s3:ListBucket", LAKE)

    assert not decision.allowed
    assert decision.unevaluated == {"s3:prefix"}
    assert "condition keys not evaluated offline: s3:prefix" in decision.reason()


def test_policy_negated_if_exists_and_null_operators_on_an_absent_key() -> None:
    def allowed(condition: dict[str, Any]) -> bool:
        body = [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*", "Condition": condition}]
        return _decide(body, "sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q").allowed

    assert allowed({"StringNotEquals": {"aws:SourceAccount": "999999999999"}})
    assert allowed({"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}})
    assert allowed({"Null": {"aws:SourceAccount": "true"}})
    assert not allowed({"Null": {"aws:SourceAccount": "false"}})
    assert not allowed({"StringEquals": {"aws:SourceAccount": "123456789012"}})


def test_policy_bucket_policy_tls_deny_beats_an_identity_allow_over_plain_http_only() -> None:
    allow = [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{LAKE}/staging/*"}]
    tls_only = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [LAKE, f"{LAKE}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]

    http = _decide(allow, "s3:PutObject", f"{LAKE}/staging/a", {"aws:SecureTransport": "false"}, tls_only)
    https = _decide(allow, "s3:PutObject", f"{LAKE}/staging/a", {"aws:SecureTransport": "true"}, tls_only)

    assert not http.allowed
    assert http.denied_by is not None and http.denied_by.sid == "DenyInsecureTransport"
    assert http.reason() == "with an explicit deny in bucket (statement DenyInsecureTransport)"
    assert https.allowed


def test_policy_bucket_policy_allow_for_another_principal_grants_nothing() -> None:
    bucket = [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:role/other"},
            "Action": "s3:GetObject",
            "Resource": f"{LAKE}/*",
        }
    ]

    assert not _decide([], "s3:GetObject", f"{LAKE}/a", bucket=bucket).allowed


def test_policy_statements_dropped_by_fn_if_are_skipped() -> None:
    found = statements(
        "p", {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, None]}
    )

    assert [s.sid for s in found] == ["#0"]


RUNS = "arn:aws:dynamodb:us-east-1:123456789012:table/runs"
LEASE_ONLY = [
    {
        "Sid": "ReleaseMergeLease",
        "Effect": "Allow",
        "Action": ["dynamodb:DeleteItem"],
        "Resource": RUNS,
        "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["lease#*"]}},
    }
]


def test_policy_for_all_values_holds_for_every_value_and_for_none() -> None:
    lease = _decide(LEASE_ONLY, "dynamodb:DeleteItem", RUNS, {"dynamodb:LeadingKeys": ["lease#offers"]})
    run_item = _decide(
        LEASE_ONLY, "dynamodb:DeleteItem", RUNS, {"dynamodb:LeadingKeys": ["s3://raw/a.csv#v1"]}
    )
    mixed = _decide(LEASE_ONLY, "dynamodb:DeleteItem", RUNS, {"dynamodb:LeadingKeys": ["lease#a", "other"]})
    absent = _decide(LEASE_ONLY, "dynamodb:DeleteItem", RUNS)  # AWS: ForAllValues over an empty set is true

    assert (lease.allowed, run_item.allowed, mixed.allowed, absent.allowed) == (True, False, False, True)
