"""The Transform job's library: what the zip holds, where the template says it is, how make deploy puts it there."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sluice.glue_library import build, extra_py_files, library_location, main, upload
from sluice.local.template import SamApp

ROOT = Path(__file__).resolve().parents[2]


def test_build_holds_the_job_package_and_only_the_pure_sluice_lib_modules():
    names = zipfile.ZipFile(io.BytesIO(build(ROOT))).namelist()

    assert names == [
        "sluice_lib/__init__.py",
        "sluice_lib/catalog_files.py",
        "sluice_lib/curated.py",
        "sluice_lib/errors.py",
        "sluice_lib/merge.py",
        "sluice_transform/__init__.py",
        "sluice_transform/arguments.py",
        "sluice_transform/conform.py",
        "sluice_transform/gold.py",
        "sluice_transform/io.py",
        "sluice_transform/job.py",
        "sluice_transform/lineage.py",
        "sluice_transform/locations.py",
        "sluice_transform/merge.py",
        "sluice_transform/steps.py",
    ]


def test_build_twice_makes_the_same_bytes_with_the_sources_inside():
    first, second = build(ROOT), build(ROOT)

    assert first == second  # an unchanged library is an unchanged upload
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert (
        archive.read("sluice_lib/curated.py")
        == (ROOT / "functions/shared/sluice_lib/curated.py").read_bytes()
    )
    assert archive.read("sluice_transform/job.py") == (ROOT / "glue/sluice_transform/job.py").read_bytes()


def test_template_job_reads_its_library_from_the_lake_and_its_role_may_read_exactly_that_object():
    resources = SamApp.load(ROOT / "template.sam.yaml").sam["Resources"]
    arguments = resources["TransformJob"]["Properties"]["DefaultArguments"]
    statements = [
        statement
        for policy in resources["GlueJobRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if isinstance(statement, dict) and "Resource" in statement
    ]

    assert arguments["--extra-py-files"] == {"Fn::Sub": "s3://${LakeBucket}/glue/lib/sluice_transform.zip"}
    under_glue = [s for s in statements if "/glue/" in str(s["Resource"])]
    assert under_glue == [
        {
            "Sid": "ReadJobLibrary",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": {"Fn::Sub": "${LakeBucket.Arn}/glue/lib/sluice_transform.zip"},
        }
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, r"must name one s3:// object .* not \[\]"),
        ("s3://a/x.zip,s3://a/y.zip", r"not \['s3://a/x.zip', 's3://a/y.zip'\]"),
        ("s3://a/lib/", r"not \['s3://a/lib/'\]"),
        ("/tmp/x.zip", r"not \['/tmp/x.zip'\]"),
    ],
)
def test_library_location_of_arguments_without_one_s3_object_is_an_error(value: str | None, problem: str):
    with pytest.raises(ValueError, match=problem):
        library_location({"--extra-py-files": value} if value else {})


def test_extra_py_files_splits_glues_comma_separated_list():
    assert extra_py_files({"--extra-py-files": " s3://a/x.zip, s3://b/y.py "}) == [
        "s3://a/x.zip",
        "s3://b/y.py",
    ]
    assert extra_py_files({"--TempDir": "s3://a/tmp/"}) == []


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def test_upload_puts_the_zip_where_the_deployed_jobs_extra_py_files_says(aws: Any):
    aws.client("s3").create_bucket(Bucket="lake")
    aws.client("glue").create_job(
        Name="sluice-dev-transform",
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://deploy/transform.py"},
        DefaultArguments={
            "--extra-py-files": "s3://lake/glue/lib/sluice_transform.zip",
            "--TempDir": "s3://x/",
        },
    )

    where = upload(aws, "sluice-dev-transform", b"PK zip bytes")

    assert where == "s3://lake/glue/lib/sluice_transform.zip"
    got = aws.client("s3").get_object(Bucket="lake", Key="glue/lib/sluice_transform.zip")
    assert got["Body"].read() == b"PK zip bytes"
    assert got["ContentType"] == "application/zip"


def test_main_build_then_upload_puts_the_file_where_the_samconfig_stacks_job_reads_it(
    aws: Any, tmp_path: Path
):
    aws.client("s3").create_bucket(Bucket="lake")
    aws.client("glue").create_job(
        Name="sluice-dev-transform",
        Role="arn:aws:iam::123456789012:role/glue",
        Command={"Name": "glueetl", "ScriptLocation": "s3://deploy/transform.py"},
        DefaultArguments={"--extra-py-files": "s3://lake/glue/lib/sluice_transform.zip"},
    )
    template = {  # the deployed stack as upload sees it: its TransformJobName output (samconfig: sluice-dev)
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"TransformJobName": {"Value": "sluice-dev-transform"}},
    }
    aws.client("cloudformation").create_stack(StackName="sluice-dev", TemplateBody=json.dumps(template))
    built = tmp_path / "sluice_transform.zip"

    assert main(["build", str(built)]) == 0
    assert main(["upload", str(built)]) == 0

    got = aws.client("s3").get_object(Bucket="lake", Key="glue/lib/sluice_transform.zip")["Body"].read()
    assert got == built.read_bytes() == build(ROOT)
