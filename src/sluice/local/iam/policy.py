"""IAM policy evaluation as AWS documents it, for one action on one resource.

moto's own evaluator (moto/iam/access_control.py) matches no Resource but S3's, evaluates only
`StringEquals` conditions, and turns an Allow whose condition fails into an explicit Deny; this one follows
the documented logic instead: an explicit Deny in any applicable policy wins, then an Allow in an identity
policy or in a resource policy that names the principal, else the implicit deny.

Condition operators evaluated: the String*, Arn* and Bool families, `Null`, the `...IfExists` forms and the
`ForAnyValue:`/`ForAllValues:` qualifiers. A key absent from the request makes a condition false, except for
negated operators (true), `...IfExists` (true), `ForAllValues:` (true, as on AWS: every value of an empty set
matches) and `Null`. Which keys a request carries is the caller's
business (sluice.local.iam.requests); a condition on a key it never supplies is reported in
`Decision.unevaluated` so a denial says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

ContextValue = str | list[str]


@dataclass(frozen=True)
class Statement:
    """One statement of a named policy (the policy name and Sid say where it is in the template)."""

    policy: str
    index: int
    body: Mapping[str, Any]

    @property
    def sid(self) -> str:
        return str(self.body.get("Sid") or f"#{self.index}")

    @property
    def effect(self) -> str:
        return str(self.body.get("Effect", "Deny"))

    def actions(self) -> list[str]:
        return _as_list(self.body.get("Action"))

    def applies(self, principal_arns: Iterable[str], action: str, resource: str) -> bool:
        body = self.body
        if "Principal" in body and not _principal_matches(body["Principal"], principal_arns, self.effect):
            return False
        if "NotPrincipal" in body:
            return False  # not used by this project's policies; never matching is the safe side for an Allow
        if "Action" in body and not any(_action_matches(p, action) for p in _as_list(body["Action"])):
            return False
        if "NotAction" in body and any(_action_matches(p, action) for p in _as_list(body["NotAction"])):
            return False
        if "Resource" in body and not any(_resource_matches(p, resource) for p in _as_list(body["Resource"])):
            return False
        return not (
            "NotResource" in body
            and any(_resource_matches(p, resource) for p in _as_list(body["NotResource"]))
        )


@dataclass
class Decision:
    """The outcome for one action on one resource, and the statements that decided it."""

    action: str
    resource: str
    allowed: bool
    allowed_by: list[Statement] = field(default_factory=list)
    denied_by: Statement | None = None
    unevaluated: set[str] = field(default_factory=set)  # condition keys the request did not carry

    def reason(self) -> str:
        if self.denied_by is not None:
            return f"with an explicit deny in {self.denied_by.policy} (statement {self.denied_by.sid})"
        text = f"because no identity-based policy allows the {self.action} action"
        if self.unevaluated:
            text += f" (condition keys not evaluated offline: {', '.join(sorted(self.unevaluated))})"
        return text


def statements(policy_name: str, document: str | Mapping[str, Any]) -> list[Statement]:
    doc = json.loads(document) if isinstance(document, str) else document
    body = doc.get("Statement", [])
    # moto's CloudFormation leaves a statement `Fn::If`-ed away (AWS::NoValue) as null: there is none.
    listed = body if isinstance(body, list) else [body]
    return [Statement(policy_name, i, s) for i, s in enumerate(listed) if isinstance(s, Mapping)]


def evaluate(
    identity: list[Statement],
    resource_policy: list[Statement],
    principal_arns: list[str],
    action: str,
    resource: str,
    context: Mapping[str, ContextValue],
) -> Decision:
    """AWS's evaluation logic for a principal of the resource's own account."""
    decision = Decision(action=action, resource=resource, allowed=False)
    ctx = {k.lower(): v for k, v in context.items()}
    for statement, from_resource in [(s, False) for s in identity] + [(s, True) for s in resource_policy]:
        if not statement.applies(principal_arns if from_resource else (), action, resource):
            continue
        if not _conditions_hold(statement.body.get("Condition", {}), ctx, decision.unevaluated):
            continue
        if statement.effect == "Deny":
            decision.allowed = False
            decision.denied_by = statement
            decision.allowed_by = []
            return decision
        decision.allowed_by.append(statement)
    decision.allowed = bool(decision.allowed_by)
    return decision


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@cache
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: * any run of characters (also across ':' and '/'), ? one character; nothing else is special.
    text = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"{text}\\Z", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _action_matches(pattern: str, action: str) -> bool:
    return pattern == "*" or bool(_glob(pattern, True).match(action))


def _resource_matches(pattern: str, resource: str) -> bool:
    return pattern == "*" or bool(_glob(pattern, False).match(resource))


def _principal_matches(principal: Any, arns: Iterable[str], effect: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    names = _as_list(principal.get("AWS"))
    arns = list(arns)
    if "*" in names:
        return True
    for name in names:
        if name in arns:
            return True
        # The account root names every principal of the account; in an Allow it only delegates to IAM.
        if (
            effect == "Deny"
            and name.endswith(":root")
            and any(a.split(":")[4] == name.split(":")[4] for a in arns)
        ):
            return True
    return False


_NEGATED = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike")


def _conditions_hold(
    conditions: Mapping[str, Any], ctx: Mapping[str, ContextValue], unevaluated: set[str]
) -> bool:
    for operator, keys in conditions.items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key.lower(), _as_list(expected), ctx, unevaluated):
                return False
    return True


def _condition_holds(
    operator: str, key: str, expected: list[str], ctx: Mapping[str, ContextValue], unevaluated: set[str]
) -> bool:
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    if op == "Null":
        return (key not in ctx) == (expected[0].lower() == "true")
    if key not in ctx:
        if qualifier == "ForAllValues":  # AWS: true when the request has no value for the key (an empty set)
            return True
        unevaluated.add(key)
        return if_exists or op in _NEGATED
    actual = _as_list(ctx[key])
    negated = op in _NEGATED
    base = op.replace("Not", "", 1) if negated else op
    matches = [any(_value_matches(base, e, a) for e in expected) for a in actual]
    if qualifier == "ForAllValues":
        return all(not m for m in matches) if negated else all(matches)
    if negated:
        return not any(matches)
    return any(matches)


def _value_matches(op: str, expected: str, actual: str) -> bool:
    if op == "StringEquals":
        return expected == actual
    if op == "StringEqualsIgnoreCase":
        return expected.lower() == actual.lower()
    if op in ("StringLike", "ArnLike"):
        return bool(_glob(expected, False).match(actual))
    if op == "ArnEquals":
        return expected == actual
    if op == "Bool":
        return expected.lower() == actual.lower()
    raise ValueError(f"IAM condition operator {op!r} is not evaluated by the emulation")
