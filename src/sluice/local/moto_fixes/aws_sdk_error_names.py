"""``aws-sdk`` errors are named ``glue.CrawlerRunningException`` where AWS says ``Glue.CrawlerRunningException``.

moto: ``StateTaskServiceAwsSdk._normalise_service_error_name`` knows only ``dynamodb`` and ``sfn`` and
otherwise returns the service as written in the resource ARN (lower case), so a Catch or Retry on
``Glue.*`` or ``S3.*`` never matches.
AWS: the prefix is the AWS SDK for Java v2 client's name (``Glue``, ``S3``, ``DynamoDb``, ``Sfn``).
Fix: derive the prefix from botocore's serviceId (``sfn_service_error_prefix``); the suffix rule stays
moto's (the SDK exception class: ``S3.NoSuchKeyException``, ``Glue.GlueException``).

Regression tests:
``tests/statemachine/test_moto_fixes/test_aws_sdk_error_names.py::test_aws_sdk_error_is_named_with_service_prefix_and_caught``,
``tests/statemachine/test_moto_fixes/test_aws_sdk_error_names.py::test_aws_sdk_error_without_fix_has_lower_case_prefix_and_escapes_catch``,
``tests/statemachine/test_moto_fixes/test_aws_sdk_error_names.py::test_sfn_service_error_prefix_follows_the_java_sdk_client_name``.
"""

from __future__ import annotations

import functools
import re

from botocore.exceptions import UnknownServiceError
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)

from sluice.local.moto_fixes._patch import Patch, botocore_session

_WORDS = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+")
# aws-sdk service names (the Java SDK v2 module) that are not botocore's name with the hyphens dropped.
_BOTO_NAMES = {
    "sfn": "stepfunctions",
    "states": "stepfunctions",
    "eventbridge": "events",
    "cloudwatchlogs": "logs",
    "elasticloadbalancingv2": "elbv2",
    "cognitoidentityprovider": "cognito-idp",
}


@functools.cache
def sfn_service_error_prefix(service_name: str) -> str:
    """The service prefix of an aws-sdk error name: ``glue`` -> ``Glue``, ``dynamodb`` -> ``DynamoDb``.

    Step Functions names errors after the AWS SDK for Java v2 client: botocore's ``serviceId`` with its
    words and acronyms Pascal-cased (``S3``, ``Sfn``, ``SecretsManager``, ``Ec2``, ``EventBridge``).
    """
    name = service_name.lower()
    boto_name = _BOTO_NAMES.get(name) or next(
        (known for known in botocore_session().get_available_services() if known.replace("-", "") == name),
        name,
    )
    try:
        service_id = str(botocore_session().get_service_model(boto_name).service_id)
    except UnknownServiceError:
        service_id = service_name
    return "".join(word[:1].upper() + word[1:].lower() for word in _WORDS.findall(service_id))


def patches() -> list[Patch]:
    """The error prefix from botocore's serviceId."""
    return [
        Patch(StateTaskServiceAwsSdk, "_normalise_service_error_name", staticmethod(sfn_service_error_prefix))
    ]
