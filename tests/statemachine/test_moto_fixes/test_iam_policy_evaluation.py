"""moto correction ``iam_policy_evaluation``: a role's calls are judged on their real resources with AWS's
condition semantics, and a TLS-only bucket policy does not deny every HTTPS request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core.authorization import enable_iam_authentication
from moto_asl import REGION

from sluice.local import moto_fixes
from sluice.local.iam.enforce import Enforcer, Identity

pytestmark = pytest.mark.emulator

ACCOUNT = "123456789012"
TABLE = "ledger"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
BUCKET = "tls-only"
TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def _role_reading_the_table() -> str:
    iam = boto3.client("iam", region_name=REGION)
    arn: str = iam.create_role(
        RoleName="reader",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="reader",
        PolicyName="read-ledger",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "Ledger", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE_ARN}
                ],
            }
        ),
    )
    ddb = boto3.client("dynamodb", region_name=REGION)
    for name in (TABLE, "other"):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return arn


@pytest.fixture
def reader(aws: None) -> Iterator[tuple[Enforcer, Identity]]:
    enforcer = Enforcer(ACCOUNT, REGION)
    identity = enforcer.identity("Reader", _role_reading_the_table())
    yield enforcer, identity
    enforcer.uninstall()


def _get(identity: Identity, table: str) -> Any:
    return identity.session(REGION).client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "k"}})


def test_table_scoped_grant_allows_the_call(reader: tuple[Enforcer, Identity]) -> None:
    enforcer, identity = reader
    enforcer.install()

    found = _get(identity, TABLE)
    with pytest.raises(ClientError) as denied:
        _get(identity, "other")

    assert "Item" not in found
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["Error"]["Message"] == (
        f"User: {identity.session_arn} is not authorized to perform: dynamodb:GetItem on resource: "
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/other because no identity-based policy allows the "
        "dynamodb:GetItem action"
    )


def test_table_scoped_grant_is_denied_without_the_fix(reader: tuple[Enforcer, Identity]) -> None:
    _, identity = reader
    with (
        moto_fixes.reverted("iam_policy_evaluation"),
        enable_iam_authentication(),
        pytest.raises(ClientError) as denied,
    ):
        _get(identity, TABLE)

    # moto evaluates the grant on resource "*", and answers a JSON-protocol service in XML (botocore sees "403").
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_tls_only_bucket_policy_lets_https_uploads_through(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(TLS_ONLY))

    s3.put_object(Bucket=BUCKET, Key="incoming/a.csv", Body=b"id\n1\n")

    assert s3.get_object(Bucket=BUCKET, Key="incoming/a.csv")["Body"].read() == b"id\n1\n"


def test_tls_only_bucket_policy_denies_every_upload_without_the_fix(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(TLS_ONLY))

    with moto_fixes.reverted("iam_policy_evaluation"), pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=BUCKET, Key="incoming/a.csv", Body=b"id\n1\n")

    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
