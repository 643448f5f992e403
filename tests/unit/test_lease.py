"""The per-dataset merge lease in the emulated runs table: executions racing to read-modify-write one table lose
none of each other's writes; a lease is re-entrant for its holder, released by its holder only, and taken over
once it expires."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from steps_aws import SETTINGS, emulated_aws

from sluice_lib.errors import DatasetBusyError
from sluice_lib.lease import acquire, release

TABLE = SETTINGS.runs_table


def test_racing_executions_serialised_by_the_lease_lose_no_write():
    with emulated_aws() as aws:
        aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key="table.json", Body=b"[]")
        busy = []
        errors: list[BaseException] = []

        def execution(name: str) -> None:
            try:
                rng = random.Random(name)
                for attempt in range(200):  # the state machine's Retry: backoff with full jitter
                    try:
                        acquire(aws.dynamodb, TABLE, "offers", name, ttl_seconds=60)
                        break
                    except DatasetBusyError:
                        busy.append(name)
                        time.sleep(rng.uniform(0, min(0.05, 0.002 * 2**attempt)))
                else:
                    raise AssertionError(f"{name} never got the lease")
                rows = json.loads(
                    aws.s3.get_object(Bucket=SETTINGS.lake_bucket, Key="table.json")["Body"].read()
                )
                time.sleep(0.01)  # transform time: a window for a lost update without the lease
                body = json.dumps([*rows, name]).encode()
                aws.s3.put_object(Bucket=SETTINGS.lake_bucket, Key="table.json", Body=body)
                assert release(aws.dynamodb, TABLE, "offers", name)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=execution, args=(f"exec-{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert not errors
        table = json.loads(aws.s3.get_object(Bucket=SETTINGS.lake_bucket, Key="table.json")["Body"].read())
        assert sorted(table) == [f"exec-{i}" for i in range(6)]
        assert busy, "the executions never contended for the lease"


def test_lease_is_reentrant_released_by_its_holder_only_and_taken_over_after_expiry():
    with emulated_aws() as aws:
        acquire(aws.dynamodb, TABLE, "offers", "a", ttl_seconds=10, now=1000.0)
        acquire(aws.dynamodb, TABLE, "offers", "a", ttl_seconds=10, now=1005.0)  # a retried step: extended
        with pytest.raises(DatasetBusyError, match="offers: a is merging"):
            acquire(aws.dynamodb, TABLE, "offers", "b", ttl_seconds=10, now=1014.0)
        acquire(
            aws.dynamodb, TABLE, "users", "b", ttl_seconds=10, now=1014.0
        )  # another dataset: its own lease

        lease = acquire(aws.dynamodb, TABLE, "offers", "b", ttl_seconds=10, now=1016.0)  # a died: expired

        assert lease.holder == "b"
        assert release(aws.dynamodb, TABLE, "offers", "a") is False  # late: b's lease stays
        with pytest.raises(DatasetBusyError):
            acquire(aws.dynamodb, TABLE, "offers", "c", ttl_seconds=10, now=1017.0)
        assert release(aws.dynamodb, TABLE, "offers", "b") is True
        acquire(aws.dynamodb, TABLE, "offers", "c", ttl_seconds=10, now=1017.0)
