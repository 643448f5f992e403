"""The embedded AWS emulation: moto 5.2.5 (corrected), the template's stack, local Lambda, Glue and events."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3
from moto import mock_aws
from moto.sns.models import sns_backends

from sluice.local import events, glue, lambdas, map_redrive, moto_fixes
from sluice.local.iam.enforce import Enforcer, Identity
from sluice.local.stack import ACCOUNT, REGION, Stack, provision
from sluice.local.template import SamApp
from sluice.paths import repo_root

NOTIFICATION_TAP = "sluice-local-notifications"

_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def _make_signing_key(subscription_arn: str) -> None:
    """moto signs SNS messages with an RSA key it makes on a subscription's first message (~0.4 s, 2048
    bits): make it now, while provisioning, instead of inside every run's first NotifySuccess state
    (bench/results/e2e.md)."""

    subscription = sns_backends[ACCOUNT][REGION].subscriptions.get(subscription_arn)
    if subscription is not None:
        subscription.private_key()


class Emulator:
    """Context manager: starts the mock, applies moto corrections, provisions the template.

    `contracts` is the folder the handlers read contracts from (default: the checkout's `contracts/`).
    Retry and Wait intervals of the ASL are real sleeps; `time_scale` shrinks them (the ASL keeps its
    production intervals). Lambda log lines (stdout) go to `log_file` while the emulator runs.
    `iam`: each function, the Glue job and the crawler call as their template role, and each call is
    evaluated against that role's policies (sluice.local.iam); False: every call is the account's own.
    """

    def __init__(
        self,
        root: Path | None = None,
        time_scale: float = 0.001,
        log_file: Path | None = None,
        parameters: dict[str, str] | None = None,
        contracts: Path | None = None,
        iam: bool = True,
        template: SamApp | None = None,
    ) -> None:
        self.root = root or repo_root()
        # The template to provision: root's template.sam.yaml unless a test hands a changed one.
        self.template = template
        self.contracts = contracts or self.root / "contracts"  # the handlers' CONTRACTS_DIR (--contracts)
        self.parameters = parameters  # template parameter overrides, as `sam deploy --parameter-overrides`
        self.time_scale = time_scale
        self.log_file = log_file
        self.iam: Enforcer | None = Enforcer(ACCOUNT, REGION) if iam else None
        self._mock: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_fd: int | None = None
        self._log: IO[str] | None = None
        self.stack: Stack
        self.lambdas: lambdas.LambdaRuntime
        self.glue: glue.LocalGlue
        self.bus: events.EventBus
        self.tap_url: str

    def __enter__(self) -> Emulator:
        self._saved_env = {k: os.environ.get(k) for k in _CREDENTIALS}
        os.environ.update(_CREDENTIALS)
        if self.log_file is not None:
            # Handlers log to stdout, and the JVM behind local Spark writes to the process's file
            # descriptors directly: point fd 1 at the log so stdout stays free for --json.
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("a", encoding="utf-8")
            sys.stdout.flush()
            self._saved_fd = os.dup(1)
            os.dup2(self._log.fileno(), 1)
        self._route_moto_logs()
        self._mock = mock_aws(
            config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        )
        self._mock.start()
        try:
            moto_fixes.apply()
            moto_fixes.set_time_scale(self.time_scale)
            map_redrive.install()
            app = self.template or SamApp.load(self.root / "template.sam.yaml")
            self.stack = provision(app, self.parameters)
            enforcer = self.iam
            self.lambdas = lambdas.LambdaRuntime(
                self.stack,
                self.contracts,
                role_env=None
                if enforcer is None
                else lambda fn: enforcer.identity(fn.logical_id, fn.role_arn).env(),
            )
            lambdas.install(self.lambdas)
            jvm_log = self.log_file.with_name("spark.log") if self.log_file is not None else None
            self.glue = glue.LocalGlue(
                self.stack,
                time_scale=self.time_scale,
                jvm_log=jvm_log,
                role_session=None if enforcer is None else self._glue_session,
            )
            if enforcer is not None:
                enforcer.install(workflow=self._workflow_identity(enforcer))
            glue.install(self.glue)
            self.bus = events.EventBus(self.lambdas)
            events.install(self.bus)
            self.tap_url = self._subscribe_tap()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _workflow_identity(self, enforcer: Enforcer) -> Identity:
        """The state machine's role session: its service integrations call as it."""
        sfn = self.client("stepfunctions")
        role = sfn.describe_state_machine(stateMachineArn=self.stack.state_machine_arn)["roleArn"]
        logical = next(k for k, v in self.stack.physical.items() if v == self.stack.state_machine_arn)
        return enforcer.identity(logical, role)

    def _glue_session(self, name: str, role_arn: str) -> boto3.Session:
        """The role session of the Glue job or crawler `name`, named for its logical id in the template."""
        assert self.iam is not None
        logical = next((k for k, v in self.stack.physical.items() if v == name), name)
        return self.iam.identity(logical, role_arn).session(REGION)

    def _route_moto_logs(self) -> None:
        """moto's interpreter logs every caught task failure at ERROR: keep that in the log, off stderr."""
        moto_log = logging.getLogger("moto")
        moto_log.propagate = False
        for handler in list(moto_log.handlers):
            moto_log.removeHandler(handler)
        if self._log is not None:
            moto_log.addHandler(logging.StreamHandler(self._log))
        else:
            moto_log.addHandler(logging.NullHandler())

    def _subscribe_tap(self) -> str:
        """An SQS queue subscribed to the run topic, so local runs can show every notification sent."""
        sqs = self.client("sqs")
        url: str = sqs.create_queue(QueueName=NOTIFICATION_TAP)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        subscription = self.client("sns").subscribe(
            TopicArn=self.stack.topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "false"},
        )["SubscriptionArn"]
        _make_signing_key(subscription)
        return url

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(Exception):
            if hasattr(self, "bus"):
                self.bus.drain(timeout=60)
        for module in (events, glue, lambdas):
            module.uninstall()
        if self.iam is not None:
            self.iam.uninstall()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._saved_fd is not None:
            sys.stdout.flush()
            os.dup2(self._saved_fd, 1)
            os.close(self._saved_fd)
            self._saved_fd = None
        if self._log is not None:
            self._log.close()
            self._log = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
