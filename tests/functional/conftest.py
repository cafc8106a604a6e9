"""Fixtures for running the handlers in-process against moto and the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from .lambdas import LambdaWorld


@pytest.fixture
def lambda_world(aws_env: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaWorld]:
    s3, ddb, sm = boto3.client("s3"), boto3.client("dynamodb"), boto3.client("secretsmanager")
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    bucket, table = "vaultmail-mail-test", "vaultmail-state-test"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    secret = sm.create_secret(Name="vaultmail/api-key", SecretString=json.dumps({"apiKey": "test-key"}))
    topic = sns.create_topic(Name="vaultmail-mail")["TopicArn"]
    for name, value in {
        "PRIMARY_DOMAIN": "acme.com,example.org",
        "API_ENDPOINT_URL": emulator.url,
        "API_KEY_SECRET_ARN": secret["ARN"],
        "STATE_TABLE": table,
        "POINTER_LOCATIONS": f"{bucket}/",  # the tests' pointers: anywhere in their one bucket
        "API_MAX_ATTEMPTS": "2",
        "POWERTOOLS_SERVICE_NAME": "vaultmail",
        "POWERTOOLS_METRICS_NAMESPACE": "Vaultmail",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("API_KEY", raising=False)
    from vaultmail import runtime

    runtime.reset()
    yield LambdaWorld(bucket, table, s3, sqs, sns, topic)
    runtime.reset()
