"""What IAM evaluates for a request moto receives: the actions, the resources' ARNs and the condition keys.

AWS authorises some API operations under another action's name (`SendMessageBatch` is `sqs:SendMessage`,
`ListObjectsV2` is `s3:ListBucket`), some on several resources at once (a Glue table operation needs the
catalog, the database and the table; `CopyObject` reads its source and writes its target), and only some
carry condition keys. `checks()` returns every (action, resource) pair the request needs and the keys it
carries; an operation it does not know is checked on resource `*`, which a resource-scoped grant refuses,
so a missing mapping shows up as a denial that names it rather than as a silent allow.

Condition keys supplied: `aws:SecureTransport` (every request), `s3:prefix` (S3 listings),
`s3:ResourceAccount` (S3), `cloudwatch:namespace` (PutMetricData), `dynamodb:LeadingKeys` (the partition key
values of GetItem, PutItem, UpdateItem, DeleteItem and the batch item calls; not of Query or Scan).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree

from moto.dynamodb.models import dynamodb_backends

from sluice.local.iam.policy import ContextValue

# The signing name in the credential scope -> the IAM service prefix, where they differ.
_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}

# moto's S3 action names -> the IAM action AWS checks.
_S3_ACTIONS = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploadParts": "ListMultipartUploadParts",
}

# Batch operations IAM authorises under the single operation's action.
_SAME_AS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sns:PublishBatch": "sns:Publish",
    "lambda:Invoke": "lambda:InvokeFunction",
}

# Actions every caller may make, whatever its policies say (AWS documents GetCallerIdentity so).
ALWAYS_ALLOWED = frozenset({"sts:GetCallerIdentity"})


@dataclass
class Checks:
    """The (action, resource) pairs one request needs, and the condition keys it carries."""

    service: str
    operation: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    context: dict[str, ContextValue] = field(default_factory=dict)


def signing_scope(headers: Any) -> tuple[str, str, str] | None:
    """(access key id, region, signing name) from a SigV4 Authorization header; None when unsigned."""
    auth = headers.get("Authorization") or headers.get("authorization") or ""
    match = re.search(r"Credential=([^/,\s]+)/\d+/([^/]+)/([^/]+)/", auth)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def checks(response: Any, region: str, account: str, service: str, s3_resource: str | None) -> Checks:
    """The checks for the request `response` (a moto BaseResponse) is handling."""
    prefix = _PREFIX.get(service, service)
    secure = urlparse(str(getattr(response, "uri", ""))).scheme != "http"
    if prefix == "s3":
        found = _s3(response, account, s3_resource or "arn:aws:s3:::*")
    else:
        operation = str(response._get_action())
        params = _params(response)
        if (
            prefix == "lambda"
        ):  # a REST API: the function is in the path (/2015-03-31/functions/NAME/invocations)
            path = unquote(urlparse(str(getattr(response, "uri", ""))).path)
            if "/functions/" in path:
                params = {
                    **params,
                    "_path_function": path.split("/functions/", 1)[1].split("/invocations")[0],
                }
        found = Checks(prefix, operation)
        action = _SAME_AS.get(f"{prefix}:{operation}", f"{prefix}:{operation}")
        arns = _resources(prefix, operation, params, region, account)
        found.pairs = [(action, arn) for arn in arns]
        if prefix == "cloudwatch" and "Namespace" in params:
            found.context["cloudwatch:namespace"] = str(params["Namespace"])
        if prefix == "dynamodb":
            leading = _leading_keys(operation, params, region, account)
            if leading is not None:
                found.context["dynamodb:LeadingKeys"] = leading
    found.context["aws:SecureTransport"] = "true" if secure else "false"
    return found


def _leading_keys(operation: str, params: dict[str, Any], region: str, account: str) -> list[str] | None:
    """The partition key values an item operation touches (`dynamodb:LeadingKeys`), None for other operations
    or a table the emulation does not hold (the call then fails as moto fails it)."""
    if operation in ("GetItem", "UpdateItem", "DeleteItem", "PutItem"):
        per_table = {params.get("TableName"): [params.get("Key") or params.get("Item") or {}]}
    elif operation == "BatchGetItem":
        per_table = {name: list(req.get("Keys", [])) for name, req in params.get("RequestItems", {}).items()}
    elif operation == "BatchWriteItem":
        per_table = {
            name: [
                (r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key") or {}
                for r in reqs
            ]
            for name, reqs in params.get("RequestItems", {}).items()
        }
    else:
        return None
    values: list[str] = []
    for name, keys in per_table.items():
        table = dynamodb_backends[account][region].tables.get(str(name))
        if table is None:
            return None
        for key in keys:
            typed = key.get(table.hash_key_attr) or {}
            values += [str(v) for v in typed.values()]  # {"S": "lease#offers"} -> "lease#offers"
    return values


def _params(response: Any) -> dict[str, Any]:
    """The request's parameters: moto's parse of them (botocore's names), else a JSON body, else the
    (flattened) query string of the query protocol."""
    for parsed_already in (getattr(response, "params", None), getattr(response, "body", None)):
        if isinstance(parsed_already, dict) and parsed_already:
            return parsed_already
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    query = getattr(response, "querystring", {}) or {}
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in query.items()}


def _resources(prefix: str, operation: str, params: dict[str, Any], region: str, account: str) -> list[str]:
    base = f"arn:aws:{prefix}:{region}:{account}"
    if prefix == "dynamodb":
        if operation in ("BatchWriteItem", "BatchGetItem"):
            return [f"{base}:table/{name}" for name in params.get("RequestItems", {})]
        table = params.get("TableName")
        if table is None:
            return ["*"]
        index = params.get("IndexName")
        return [f"{base}:table/{table}" + (f"/index/{index}" if index else "")]
    if prefix == "glue":
        return _glue_resources(operation, params, base)
    if prefix == "sqs":
        url = params.get("QueueUrl")
        name = url.rstrip("/").rsplit("/", 1)[-1] if url else params.get("QueueName")
        return [f"{base}:{name}"] if name else ["*"]
    if prefix == "sns":
        arn = params.get("TopicArn") or params.get("TargetArn")
        return [str(arn)] if arn else ["*"]
    if prefix == "states":
        arn = params.get("executionArn") or params.get("stateMachineArn") or params.get("mapRunArn")
        return [str(arn)] if arn else ["*"]
    if prefix == "kms":
        key = str(params.get("KeyId", ""))
        if key.startswith("arn:"):
            return [key]
        if key.startswith("alias/"):
            return [f"{base}:{key}"]
        return [f"{base}:key/{key}"] if key else ["*"]
    if prefix == "logs":
        group = params.get("logGroupName")
        return [f"{base}:log-group:{group}:*"] if group else ["*"]
    if prefix == "lambda":
        name = params.get("FunctionName") or params.get("_path_function")
        return [name if str(name).startswith("arn:") else f"{base}:function:{name}"] if name else ["*"]
    return ["*"]


def _glue_resources(operation: str, params: dict[str, Any], base: str) -> list[str]:
    catalog = f"{base}:catalog"
    if operation in ("StartCrawler", "GetCrawler", "StopCrawler"):
        return [f"{base}:crawler/{params.get('Name')}"]
    if operation in ("StartJobRun", "GetJobRun", "GetJobRuns", "BatchStopJobRun", "GetJob"):
        return [f"{base}:job/{params.get('JobName')}"]
    if operation in ("GetDatabase", "CreateDatabase", "UpdateDatabase"):
        name = params.get("Name") or params.get("DatabaseInput", {}).get("Name")
        return [catalog, f"{base}:database/{name}"]
    if operation == "GetDatabases":
        return [catalog, f"{base}:database/*"]
    database = params.get("DatabaseName")
    if database is None:
        return ["*"]
    if operation == "GetTables":
        return [catalog, f"{base}:database/{database}", f"{base}:table/{database}/*"]
    table = params.get("TableName") or params.get("Name") or params.get("TableInput", {}).get("Name")
    if table is None:
        return [catalog, f"{base}:database/{database}"]
    return [catalog, f"{base}:database/{database}", f"{base}:table/{database}/{table}"]


def _s3(response: Any, account: str, resource: str) -> Checks:
    """S3: moto names the action and the bucket/key ARN; IAM's action differs for some, and a copy also reads."""
    data = getattr(response, "data", {}) or {}
    operation = str(data.get("Action", "ListAllMyBuckets"))
    query = getattr(response, "querystring", {}) or {}
    headers = getattr(response, "headers", {}) or {}
    method = str(getattr(response, "method", "GET"))
    action = _S3_ACTIONS.get(operation, operation)
    if action == "GetObject" and "versionId" in query:
        action = "GetObjectVersion"  # moto's HEAD of a version is GetObject; AWS checks GetObjectVersion
    found = Checks("s3", operation)
    if method == "POST" and "delete" in query:
        # DeleteObjects: s3:DeleteObject (or DeleteObjectVersion) on each key it names.
        for key, version in _delete_keys(getattr(response, "body", b"")):
            found.pairs.append(
                (f"s3:{'DeleteObjectVersion' if version else 'DeleteObject'}", f"{resource}/{key}")
            )
    else:
        found.pairs.append((f"s3:{action}", resource))
    source = headers.get("x-amz-copy-source") or headers.get("X-Amz-Copy-Source")
    if source and method == "PUT":
        path, _, version_query = unquote(str(source)).lstrip("/").partition("?versionId=")
        read = "s3:GetObjectVersion" if version_query else "s3:GetObject"
        found.pairs.append((read, f"arn:aws:s3:::{path}"))
    if action in ("ListBucket", "ListBucketVersions"):
        prefix = query.get("prefix")
        if prefix is not None:
            found.context["s3:prefix"] = str(prefix[0] if isinstance(prefix, list) else prefix)
    found.context["s3:ResourceAccount"] = account
    return found


def _delete_keys(body: Any) -> list[tuple[str, str | None]]:
    """The (key, version id) pairs of a DeleteObjects request body."""
    root = ElementTree.fromstring(body or b"<Delete/>")
    keys = []
    for obj in root:
        if obj.tag.rsplit("}", 1)[-1] != "Object":
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in obj}
        keys.append((fields.get("Key", ""), fields.get("VersionId")))
    return keys
