"""Queued invocations, the pure parts: which events are SQS batches, queue URLs from ARNs, and how
the local stack reads a partial batch response (as Lambda's event source does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from vaultmail import delivery, errors
from vaultmail.settings import Settings
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


def _failed(step: str | None, exc: errors.UploadFailed | None = None) -> errors.UploadFailed:
    failure = exc or errors.UploadFailed("failed (HTTP 503)", status=503)
    failure.step = step
    return failure


def test_only_a_failed_slot_request_is_an_outage() -> None:
    assert delivery.is_outage(_failed("slot request"))
    assert delivery.is_outage(_failed("slot request", errors.ApiKeyRefused("refused", status=403)))
    assert not delivery.is_outage(_failed("upload"))  # the slot refused this mail: its own failure
    assert not delivery.is_outage(_failed(None))
    assert not delivery.is_outage(errors.StorageError("S3 read failed"))
    assert not delivery.is_outage(_failed("slot request", errors.UploadRejected("too large", status=413)))


class _Sqs:
    """Records ChangeMessageVisibility calls (the only SQS call delivery.run makes)."""

    def __init__(self) -> None:
        self.changed: list[tuple[str, int]] = []

    def change_message_visibility(self, **kw: object) -> None:
        self.changed.append((str(kw["ReceiptHandle"]), int(str(kw["VisibilityTimeout"]))))


def _event(n: int) -> dict[str, object]:
    arn = "arn:aws:sqs:us-east-1:123456789012:q"
    msgs = [
        {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": "{}"} | {
            "Attributes": {"ApproximateReceiveCount": "1"}
        }
        for i in range(n)
    ]
    return {"Records": [lambda_record(m, arn) for m in msgs]}


@pytest.mark.parametrize(
    ("step", "tried"), [("upload", ["m0", "m1", "m2"]), ("slot request", ["m0"])], ids=["upload", "slot"]
)
def test_a_mails_own_upload_failure_defers_nobody_an_api_failure_defers_the_rest(
    step: str, tried: list[str]
) -> None:
    seen: list[str] = []

    def handle(record: SQSRecord) -> None:
        seen.append(record.message_id)
        if record.message_id == "m0":
            raise _failed(step)

    sqs = _Sqs()
    answer = delivery.run(_event(3), None, handle, sqs=sqs, settings=Settings())
    assert seen == tried
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed == {"m0"} if step == "upload" else failed == {"m0", "m1", "m2"}
    assert [handle_ for handle_, _ in sqs.changed] == sorted(f"r{m[1:]}" for m in failed)
