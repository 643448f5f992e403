"""The emulated stack with IAM enforced: a function's role session is judged by the template's policies, the
buckets' TLS-only policy refuses a plain-HTTP call, `iam=False` turns it all off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sluice.local.emulator import Emulator
from sluice.local.iam import report
from sluice.local.iam.enforce import Identity
from sluice.local.stack import REGION

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _validate(emu: Emulator) -> Identity:
    fn = emu.stack.function_by_logical_id("ValidateFunction")
    assert emu.iam is not None
    return emu.iam.identity("ValidateFunction", fn.role_arn)


def _s3(identity: Identity, endpoint: str | None = None) -> Any:
    return identity.session(REGION).client("s3", endpoint_url=endpoint)


def test_validate_role_writes_quarantine_but_not_archive(emu: Emulator) -> None:
    s3 = _s3(_validate(emu))
    bucket = emu.stack.raw_bucket

    s3.put_object(Bucket=bucket, Key="quarantine/offers/r1/bad_rows.csv", Body=b"line,reason\n")
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket=bucket, Key="archive/offers/2026/12/05/a.csv", Body=b"x")

    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert f"s3:PutObject on resource: arn:aws:s3:::{bucket}/archive/offers/2026/12/05/a.csv" in str(
        denied.value
    )


def test_plain_http_call_is_denied_by_the_tls_only_bucket_policy(emu: Emulator) -> None:
    bucket = emu.stack.raw_bucket
    emu.client("s3").put_object(Bucket=bucket, Key="incoming/offers/tls.csv", Body=b"a\n1\n")
    identity = _validate(emu)

    over_https = _s3(identity).get_object(Bucket=bucket, Key="incoming/offers/tls.csv")["Body"].read()
    with pytest.raises(ClientError) as denied:
        _s3(identity, "http://s3.amazonaws.com").get_object(Bucket=bucket, Key="incoming/offers/tls.csv")

    assert over_https == b"a\n1\n"
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert "explicit deny in bucket policy of" in str(denied.value)
    assert "(statement DenyInsecureTransport)" in str(denied.value)


def test_report_counts_the_calls_and_lists_the_denial(emu: Emulator) -> None:
    s3 = _s3(_validate(emu))
    with pytest.raises(ClientError):
        s3.put_object(Bucket=emu.stack.lake_bucket, Key="curated/offers/x.parquet", Body=b"x")
    assert emu.iam is not None

    built = report.build(emu.iam)

    validate = next(r for r in built["roles"] if r["component"] == "ValidateFunction")
    statuses = {(g["sid"], g["action"]): g["status"] for g in validate["grants"]}
    assert statuses[("WriteQuarantine", "s3:PutObject")] == "used"
    assert statuses[("Logs", "logs:PutLogEvents")] == "not emulated"
    assert statuses[("SendBadRows", "sqs:SendMessage")] == "unused"
    assert {
        "action": "s3:PutObject",
        "resource": f"arn:aws:s3:::{emu.stack.lake_bucket}/curated/offers/x.parquet",
        "calls": 1,
    } in validate["denied"]
