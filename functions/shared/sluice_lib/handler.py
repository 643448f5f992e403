"""What every Lambda handler of the state machine shares: Powertools' logger, tracer and metrics, the decorator
stack a step handler wears, and a per-function cache of boto3 clients."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from pydantic import BaseModel

# One service name (POWERTOOLS_SERVICE_NAME) per stack: Powertools shares these between instances anyway.
logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Pooled connections for parallel copies and BatchWriteItem requests; adaptive retry for throttling.
POOLED = Config(max_pool_connections=16, retries={"mode": "adaptive", "max_attempts": 10})
# The serving writes (Load, LoadServingBatch): millions of items whose every attribute botocore would walk in
# Python before sending (a fifth of the CPU of a write); DynamoDB validates each request itself and refuses a bad
# one with ValidationException, which the writer reports as ServingWriteError.
BULK_WRITES = POOLED.merge(Config(parameter_validation=False))

Handler = Callable[[Any, LambdaContext], dict[str, Any]]


def aws_clients(config: Config | None = None) -> Callable[[str], Any]:
    """A cached `client(service)` for one function's module. Each handler keeps its own cache (not one per
    process) so the in-process emulation can give each function its own identity and environment."""

    @cache
    def client(service: str) -> Any:
        return boto3.client(service, config=config)

    return client


def step_handler(
    model: type[BaseModel], correlation_id_path: str = "run.run_id"
) -> Callable[[Handler], Handler]:
    """Logger context with the run's correlation id, tracing, metrics flushed at the end, and the event parsed
    into `model` before the handler sees it."""

    def wrap(handler: Handler) -> Handler:
        parsed = event_parser(model=model)(handler)
        flushed = metrics.log_metrics(parsed)
        traced = tracer.capture_lambda_handler(flushed)
        wrapped: Handler = logger.inject_lambda_context(correlation_id_path=correlation_id_path)(traced)
        return wrapped

    return wrap
