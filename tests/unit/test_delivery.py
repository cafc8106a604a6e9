"""Queued invocations, the pure parts: which events are SQS batches, queue URLs from ARNs, and how
the local stack reads a partial batch response (as Lambda's event source does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vaultmail import delivery
from vaultmail_dev.esm import failed_ids, lambda_record

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_sqs_batches_are_told_from_direct_events() -> None:
    assert delivery.is_sqs(json.loads((EVENTS / "sqs-sns-notifications.json").read_text()))
    assert delivery.is_sqs(json.loads((EVENTS / "sqs-s3-events.json").read_text()))
    for direct in (
        "sns-raw-mail.json",
        "s3-put.json",
        "s3-eventbridge-object-created.json",
        "s3-batch-2.0.json",
    ):
        assert not delivery.is_sqs(json.loads((EVENTS / direct).read_text())), direct
    assert not delivery.is_sqs({"Records": []}) and not delivery.is_sqs([])


def test_queue_url_from_its_arn() -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:vaultmail-S3UploaderQueue-ABC"
    assert (
        delivery.queue_url(arn)
        == "https://sqs.eu-west-1.amazonaws.com/123456789012/vaultmail-S3UploaderQueue-ABC"
    )
    assert delivery.queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:q").endswith(
        ".amazonaws.com.cn/123456789012/q"
    )
    with pytest.raises(ValueError):
        delivery.queue_url("arn:aws:sns:us-east-1:123456789012:topic")


BATCH = [
    {"MessageId": "a", "ReceiptHandle": "ra", "Body": "{}"},
    {"MessageId": "b", "ReceiptHandle": "rb", "Body": "{}"},
]


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None),  # not in the batch: all failed
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, None),
        ({"batchItemFailures": [{"wrongKey": "a"}]}, None),
        ("not json", None),
    ],
)
def test_partial_batch_responses_are_read_as_lambda_reads_them(
    answer: object, failed: set[str] | None
) -> None:
    assert failed_ids(answer, BATCH) == failed


def test_a_received_message_in_lambdas_record_shape() -> None:
    msg = {**BATCH[0], "Attributes": {"ApproximateReceiveCount": "4"}, "MD5OfBody": "x"}
    record = lambda_record(msg, "arn:aws:sqs:us-east-1:123456789012:q")
    assert record["messageId"] == "a" and record["receiptHandle"] == "ra" and record["body"] == "{}"
    assert record["attributes"]["ApproximateReceiveCount"] == "4"
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
