"""The progress lines' sources: serving items counted from the emulated table, no Spark task counts without Spark."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from sluice.local import activity


def test_table_items_counts_the_emulated_tables_items_without_a_scan() -> None:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="serving",
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for i in range(3):
            ddb.put_item(TableName="serving", Item={"pk": {"S": "offers#1"}, "sk": {"S": str(i)}})

        assert activity.table_items("serving") == 3
        assert activity.table_items("missing") is None


def test_spark_tasks_is_none_when_no_spark_context_runs() -> None:
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        pytest.skip("a SparkSession of another test runs in this process")
    assert activity.spark_tasks() is None
