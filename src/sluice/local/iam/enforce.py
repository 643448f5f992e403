"""Every call a Lambda handler, the Glue job or the crawler makes runs as its template role, and is judged.

`Enforcer` assumes each component's role (moto's STS issues the temporary credentials), keeps the role's
policies as provisioned from the template, and authorises each request moto receives that is signed with
one of those credentials (sluice.local.moto_fixes.iam_policy_evaluation routes moto's check here). A denied
request fails with the service's own access-denied error and AWS's message; every decision is counted for
the used/unused report (sluice.local.iam.report). Requests signed otherwise (the emulator provisioning the
stack, a test, the user's upload) pass: they stand for the account's administrator.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.iam.models import iam_backends
from moto.s3.exceptions import S3ClientError
from moto.s3.models import s3_backends
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.utils import boto_client

from sluice.local import sessions
from sluice.local.iam import requests
from sluice.local.iam.policy import Decision, Statement, evaluate, statements
from sluice.local.moto_fixes import iam_policy_evaluation

# What each service answers a denied request with (the error code botocore and Step Functions see).
_DENIED_JSON = {
    "dynamodb": "AccessDeniedException",
    "glue": "AccessDeniedException",
    "states": "AccessDeniedException",
    "kms": "AccessDeniedException",
    "logs": "AccessDeniedException",
    "lambda": "AccessDeniedException",
    "sqs": "AccessDenied",
}
_DENIED_QUERY = {"sns": "AuthorizationError"}


@dataclass
class Identity:
    """A component (a function, the job, the crawler) acting as its template role."""

    component: str
    role_name: str
    role_arn: str
    session_arn: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    statements: list[Statement]
    _session: boto3.Session | None = None

    def env(self) -> dict[str, str]:
        """The variables the Lambda runtime sets for the function's role session."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def session(self, region: str) -> boto3.Session:
        if self._session is None:
            self._session = sessions.session(
                aws_access_key_id=self.access_key_id,
                aws_secret_access_key=self.secret_access_key,
                aws_session_token=self.session_token,
                region_name=region,
            )
        return self._session


@dataclass(frozen=True)
class Use:
    """One kind of authorised or denied call: what the report counts."""

    role: str
    action: str
    resource: str
    allowed: bool
    statements: tuple[tuple[str, str], ...]  # (policy, Sid) of the statements that allowed it, or the Deny


class Enforcer:
    """The template's roles, their sessions, and the decisions taken for them in this emulation."""

    def __init__(self, account: str, region: str) -> None:
        self.account = account
        self.region = region
        self.by_key: dict[str, Identity] = {}
        self.by_component: dict[str, Identity] = {}
        self.uses: Counter[Use] = Counter()
        self.denials: list[str] = []
        self._lock = threading.Lock()
        self._swapped: list[tuple[Any, Any]] = []

    # ------------------------------------------------------------------ identities
    def identity(self, component: str, role_arn: str) -> Identity:
        """The component's role session (assumed once per emulation, as a warm Lambda keeps its credentials)."""
        with self._lock:
            if component in self.by_component:
                return self.by_component[component]
        role_name = role_arn.rsplit("/", 1)[-1]
        # As the account, whatever the calling thread's environment holds (a function's overlay has its role's).
        sts = sessions.session(
            aws_access_key_id="sluice-emulator",
            aws_secret_access_key="sluice-emulator",
            region_name=self.region,
        ).client("sts")
        assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName=component[:64])
        credentials = assumed["Credentials"]
        identity = Identity(
            component=component,
            role_name=role_name,
            role_arn=role_arn,
            session_arn=assumed["AssumedRoleUser"]["Arn"],
            access_key_id=credentials["AccessKeyId"],
            secret_access_key=credentials["SecretAccessKey"],
            session_token=credentials["SessionToken"],
            statements=self._role_statements(role_name),
        )
        with self._lock:
            self.by_component[component] = identity
            self.by_key[identity.access_key_id] = identity
        return identity

    def _role_statements(self, role_name: str) -> list[Statement]:
        """The role's inline and attached policies as provisioned (moto's IAM backend holds them)."""
        backend = iam_backends[self.account]["global"]
        role = backend.get_role(role_name)
        found: list[Statement] = []
        for name, document in role.policies.items():
            found += statements(name, document)
        for arn, policy in role.managed_policies.items():
            version = next(v for v in policy.versions if v.is_default)
            found += statements(arn.rsplit("/", 1)[-1], version.document)
        return found

    def roles(self) -> dict[str, Identity]:
        with self._lock:
            return dict(self.by_component)

    # ------------------------------------------------------------------ authorisation
    def install(self, workflow: Identity | None = None) -> None:
        """Judge the roles' requests; with `workflow`, the state machine's service integrations call as it."""
        iam_policy_evaluation.set_authorizer(self.authorize)
        self._swapped = []
        if workflow is None:
            return
        original = boto_client.boto_client_for

        def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            # moto signs the interpreter's calls with fixed keys; Step Functions calls with the state machine's role.
            return workflow.session(region).client(
                service,
                config=Config(
                    parameter_validation=False,
                    retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                    read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                ),
            )

        for module in list(sys.modules.values()):
            name = getattr(module, "__name__", "")
            if (
                name.startswith("moto.stepfunctions.parser")
                and getattr(module, "boto_client_for", None) is original
            ):
                self._swapped.append((module, original))
                setattr(module, "boto_client_for", boto_client_for)  # noqa: B010 - any module that imported it

    def uninstall(self) -> None:
        iam_policy_evaluation.set_authorizer(None)
        for module, original in getattr(self, "_swapped", []):
            setattr(module, "boto_client_for", original)  # noqa: B010
        self._swapped = []

    def authorize(self, response: Any, is_s3: bool, s3_resource: str) -> None:
        scope = requests.signing_scope(response.headers)
        if scope is None:
            return
        identity = self.by_key.get(scope[0])
        if identity is None:
            return  # the account's administrator: the emulator, a test, a user's upload
        found = requests.checks(response, self.region, self.account, scope[2], s3_resource if is_s3 else None)
        for action, resource in found.pairs:
            if action in requests.ALWAYS_ALLOWED:
                continue
            bucket_policy = self._bucket_policy(resource) if found.service == "s3" else []
            decision = evaluate(
                identity.statements,
                bucket_policy,
                [identity.role_arn, identity.session_arn],
                action,
                resource,
                found.context,
            )
            self._record(identity, decision)
            if not decision.allowed:
                self._deny(found.service, identity, decision)

    def _bucket_policy(self, resource: str) -> list[Statement]:
        bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        found = s3_backends[self.account]["aws"].buckets.get(bucket)
        if found is None or not found.policy:
            return []
        text = found.policy.decode() if isinstance(found.policy, bytes) else str(found.policy)
        return statements(f"bucket policy of {bucket}", json.loads(text))

    def _record(self, identity: Identity, decision: Decision) -> None:
        deciding = [decision.denied_by] if decision.denied_by is not None else decision.allowed_by
        use = Use(
            role=identity.component,
            action=decision.action,
            resource=decision.resource,
            allowed=decision.allowed,
            statements=tuple((s.policy, s.sid) for s in deciding),
        )
        with self._lock:
            self.uses[use] += 1

    def _deny(self, service: str, identity: Identity, decision: Decision) -> None:
        message = (
            f"User: {identity.session_arn} is not authorized to perform: {decision.action} "
            f"on resource: {decision.resource} {decision.reason()}"
        )
        with self._lock:
            self.denials.append(f"{identity.component}: {message}")
        if service == "s3":
            raise S3ClientError("AccessDenied", message)
        if service not in _DENIED_JSON:
            raise _QueryAccessDenied(_DENIED_QUERY.get(service, "AccessDenied"), message)
        denied = JsonRESTError(_DENIED_JSON[service], message)
        denied.code = 403
        raise denied


class _QueryAccessDenied(AccessDeniedError):
    """A denial in the query protocol's XML (SNS, STS, IAM, CloudWatch) with the service's own error code."""

    def __init__(self, error_type: str, message: str) -> None:
        super(AccessDeniedError, self).__init__(error_type, message)  # AccessDeniedError's base: its XML body
