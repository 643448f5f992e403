"""moto's IAM evaluator cannot judge the template's policies; requests go to sluice's evaluator instead.

moto: ``ActionAuthenticatorMixin._authenticate_and_authorize_action`` (on when ``INITIAL_NO_AUTH_ACTION_COUNT`` is
reached) evaluates every non-S3 request on resource ``*``, so an Allow scoped to a table, queue or Glue table
never matches and the call is denied; an Allow whose condition does not hold counts as an explicit Deny; only
``StringEquals`` conditions are evaluated (others are ignored: allowed); bucket policies are not consulted; and
the caller must be an IAM user or an assumed role, so the emulator's own provisioning calls would fail too.
And, on by default, S3's own bucket-policy check (``FakeBucket.get_permission``) uses that evaluator for every
object request: a condition it cannot evaluate is ignored, so the template's TLS-only statement (Deny ``s3:*``
when ``aws:SecureTransport`` is false) denies every upload and read, over HTTPS too.
AWS: the request's actual resources are evaluated against the caller's identity policies and the resource's
policy, with the documented condition semantics (sluice.local.iam.policy).
Fix: bucket policies are evaluated by sluice's evaluator (a condition key the check has no value for is
absent, as AWS treats it). While an enforcer is installed (``sluice.local.iam.enforce``), the check is its ``authorize``: requests
signed with the credentials of a template role's session are evaluated, every other request (the emulator,
a test, a user's upload) passes as the account's administrator. Without an enforcer, moto's check runs as before.

Regression tests:
``tests/statemachine/test_moto_fixes/test_iam_policy_evaluation.py::test_table_scoped_grant_allows_the_call``,
``tests/statemachine/test_moto_fixes/test_iam_policy_evaluation.py::test_table_scoped_grant_is_denied_without_the_fix``,
``tests/statemachine/test_moto_fixes/test_iam_policy_evaluation.py::test_tls_only_bucket_policy_lets_https_uploads_through``,
``tests/statemachine/test_moto_fixes/test_iam_policy_evaluation.py::test_tls_only_bucket_policy_denies_every_upload_without_the_fix``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import PermissionResult, S3IAMRequest
from moto.s3.models import FakeBucket

from sluice.local.iam.policy import evaluate, statements
from sluice.local.moto_fixes._patch import Patch

# (response, is_s3, resource moto computed) -> None, or raises the service's access-denied error.
Authorizer = Callable[[Any, bool, str], None]
_authorizer: list[Authorizer] = []


def set_authorizer(authorizer: Authorizer | None) -> None:
    """Install (or with None, remove) the function that authorises requests."""
    _authorizer[:] = [] if authorizer is None else [authorizer]


def patches() -> list[Patch]:
    """Requests are authorised by the installed enforcer, when there is one."""
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    @functools.wraps(original)
    def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if _authorizer:
            _authorizer[0](self, iam_request_cls is S3IAMRequest, resource)
            return
        original(self, iam_request_cls, resource)

    def get_permission(self: Any, action: str, resource: str) -> PermissionResult:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        text = self.policy.decode() if isinstance(self.policy, bytes) else str(self.policy)
        # moto asks on behalf of any caller (it has no principal here): only statements for everyone apply.
        decision = evaluate([], statements("bucket policy", text), ["*"], action, resource, {})
        if decision.denied_by is not None:
            return PermissionResult.DENIED
        return PermissionResult.PERMITTED if decision.allowed else PermissionResult.NEUTRAL

    return [
        Patch(
            ActionAuthenticatorMixin, "_authenticate_and_authorize_action", _authenticate_and_authorize_action
        ),
        Patch(FakeBucket, "get_permission", get_permission),
    ]
