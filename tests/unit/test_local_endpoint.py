"""The local endpoint of `sluice up`: moto's HTTP front end on loopback, over the process's backends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from sluice.local.server import LocalEndpoint, PortInUseError, local_queue_url


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


def test_local_endpoint_serves_over_http_what_in_process_clients_created(
    aws_env: None, tmp_path: Path
) -> None:
    boto3.client("s3").create_bucket(Bucket="made-in-process")
    endpoint = LocalEndpoint(0, request_log=tmp_path / "requests.log")
    endpoint.serve()
    try:
        assert endpoint.url == f"http://127.0.0.1:{endpoint.port}"
        outside = boto3.client("s3", endpoint_url=endpoint.url)
        outside.create_bucket(Bucket="made-over-http")
        names = {b["Name"] for b in outside.list_buckets()["Buckets"]}
        assert names == {"made-in-process", "made-over-http"}
        assert "made-over-http" in {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}
    finally:
        endpoint.stop()
    assert "PUT /made-over-http" in (tmp_path / "requests.log").read_text(encoding="utf-8")


def test_local_endpoint_binds_loopback_only() -> None:
    with LocalEndpoint(0) as endpoint:
        assert endpoint._socket is not None
        assert endpoint._socket.getsockname()[0] == "127.0.0.1"


def test_local_endpoint_on_a_taken_port_raises_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port}"):
            LocalEndpoint(port).bind()


def test_local_endpoint_stop_frees_the_port(aws_env: None) -> None:
    endpoint = LocalEndpoint(0)
    endpoint.serve()
    port = endpoint.port
    endpoint.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    with LocalEndpoint(port) as again:
        assert again.port == port


def test_local_queue_url_names_the_queue_under_the_endpoint() -> None:
    url = local_queue_url(
        "https://sqs.us-east-1.amazonaws.com/123456789012/sluice-dev-bad-records", "http://127.0.0.1:4566"
    )
    assert url == "http://127.0.0.1:4566/123456789012/sluice-dev-bad-records"
