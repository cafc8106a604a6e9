"""Queued invocations, the pure parts: which events are SQS batches, queue URLs from ARNs, how
the local stack reads a partial batch response (as Lambda's event source does), and how the
batch processor tells an outage of the upload API from one mail's own failure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultmail import errors, queue_batch
from vaultmail.invocation import Invocation
from vaultmail.settings import Settings
from vaultmail_dev.esm import failed_ids, lambda_record

EVENTS = Path(__file__).resolve().parents[2] / "events"


def test_sqs_batches_are_told_from_direct_events() -> None:
    assert queue_batch.is_sqs(json.loads((EVENTS / "sqs-sns-notifications.json").read_text()))
    assert queue_batch.is_sqs(json.loads((EVENTS / "sqs-s3-events.json").read_text()))
    for direct in (
        "sns-raw-mail.json",
        "s3-put.json",
        "s3-eventbridge-object-created.json",
        "s3-batch-2.0.json",
    ):
        assert not queue_batch.is_sqs(json.loads((EVENTS / direct).read_text())), direct
    assert not queue_batch.is_sqs({"Records": []}) and not queue_batch.is_sqs([])


def test_queue_url_from_its_arn() -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:vaultmail-S3UploaderQueue-ABC"
    assert (
        queue_batch.queue_url(arn)
        == "https://sqs.eu-west-1.amazonaws.com/123456789012/vaultmail-S3UploaderQueue-ABC"
    )
    assert queue_batch.queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:q").endswith(
        ".amazonaws.com.cn/123456789012/q"
    )
    with pytest.raises(ValueError):
        queue_batch.queue_url("arn:aws:sns:us-east-1:123456789012:topic")


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


def _failed(
    step: str | None, exc: errors.UploadFailed | None = None, vaults: tuple[str, ...] = ()
) -> errors.UploadFailed:
    failure = exc or errors.UploadFailed("failed (HTTP 503)", status=503)
    failure.step = step
    failure.vaults = vaults
    return failure


def test_only_a_failed_slot_request_tells_of_the_api() -> None:
    assert queue_batch.api_failure(_failed("slot request"))
    assert queue_batch.api_failure(_failed("slot request", errors.ApiKeyRefused("refused", status=403)))
    assert not queue_batch.api_failure(_failed("upload"))  # the slot refused this mail: its own failure
    assert not queue_batch.api_failure(_failed(None))
    assert not queue_batch.api_failure(errors.StorageError("S3 read failed"))
    assert not queue_batch.api_failure(
        _failed("slot request", errors.UploadRejected("too large", status=413))
    )


def test_what_no_mail_can_escape_stops_the_batch_at_once_a_5xx_may_be_one_mails() -> None:
    connection = errors.UploadFailed("slot request failed (last: ConnectionError)", status=None)
    for failure in (
        connection,
        errors.UploadFailed("throttled", status=429),
        errors.ApiKeyRefused("refused", status=403),
        errors.ApiNotFound("not found", status=404),
    ):
        assert queue_batch.fails_everyone(failure), failure
        watch = queue_batch.OutageWatch()
        watch.failed(_failed("slot request", failure))
        assert watch.outage is failure
    assert not queue_batch.fails_everyone(errors.UploadFailed("bad gateway", status=502))


def _slot_503(*vaults: str) -> errors.UploadFailed:
    return _failed("slot request", errors.UploadFailed("failed (HTTP 503)", status=503), vaults)


def test_a_5xx_is_an_outage_once_a_second_mail_of_other_vaults_fails_alike() -> None:
    watch = queue_batch.OutageWatch()
    watch.failed(_slot_503("a@acme.com"))
    assert watch.outage is None  # one mail's failure, perhaps its vault's
    watch.failed(_slot_503("b@acme.com"))
    assert watch.outage is not None


def test_mails_of_one_bad_vault_are_not_an_outage_until_a_third_fails() -> None:
    watch = queue_batch.OutageWatch()
    watch.failed(_slot_503("bad@acme.com"))
    watch.failed(_slot_503("bad@acme.com", "x@acme.com"))
    assert watch.outage is None  # they share a vault: that vault (its shard) may be the one failing
    watch.failed(_slot_503("bad@acme.com"))
    assert watch.outage is not None  # three in a row: the batch stops anyway


def test_a_mail_archived_in_between_or_another_failure_starts_over() -> None:
    watch = queue_batch.OutageWatch()
    watch.failed(_slot_503("a@acme.com"))
    watch.succeeded()  # the API answers: a's failure was a's own
    watch.failed(_slot_503("b@acme.com"))
    assert watch.outage is None
    other = _failed("slot request", errors.UploadFailed("bad gateway", status=502), ("c@acme.com",))
    watch.failed(other)  # another way of failing: not "the same way"
    assert watch.outage is None
    watch.failed(errors.StorageError("S3 read failed"))  # not the API's: says nothing
    assert watch.outage is None


class _Sqs:
    """Records ChangeMessageVisibility calls (the only SQS call queue_batch.process makes)."""

    def __init__(self) -> None:
        self.changed: list[tuple[str, int]] = []

    def change_message_visibility(self, **kw: object) -> None:
        self.changed.append((str(kw["ReceiptHandle"]), int(str(kw["VisibilityTimeout"]))))


def _event(n: int) -> dict[str, Any]:
    arn = "arn:aws:sqs:us-east-1:123456789012:q"
    msgs = [
        {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": "{}"}
        | {"Attributes": {"ApproximateReceiveCount": "1"}}
        for i in range(n)
    ]
    return {"Records": [lambda_record(m, arn) for m in msgs]}


def _run(n: int, fails: dict[str, BaseException]) -> tuple[list[str], set[str], _Sqs]:
    """A batch of ``n`` messages, ``fails`` saying which raise what; (tried, failed ids, sqs)."""
    seen: list[str] = []

    def handle(record: SQSRecord, invocation: Invocation) -> None:
        seen.append(record.message_id + (" probe" if invocation.probe else ""))
        if record.message_id in fails:
            raise fails[record.message_id]

    sqs = _Sqs()
    answer = queue_batch.process(_event(n), Invocation(), handle, sqs=sqs, settings=Settings())
    return seen, {f["itemIdentifier"] for f in answer["batchItemFailures"]}, sqs


def test_one_mails_api_failure_defers_nobody_an_outage_defers_the_rest() -> None:
    tried, failed, sqs = _run(3, {"m0": _slot_503("a@acme.com")})
    # m1 probes the API (one attempt, no wait) after m0's failure; archived, it clears the suspicion
    assert tried == ["m0", "m1 probe", "m2"] and failed == {"m0"}
    down = {f"m{i}": _slot_503(f"v{i}@acme.com") for i in range(5)}
    tried, failed, sqs = _run(5, down)
    assert tried == ["m0", "m1 probe"] and failed == {"m0", "m1", "m2", "m3", "m4"}
    assert sorted(handle for handle, _ in sqs.changed) == ["r0", "r1", "r2", "r3", "r4"]


def test_an_empty_batch_answers_no_failures() -> None:
    # what a test invocation with {"Records": []} gets (Powertools alone raises UnexpectedBatchTypeError)
    assert queue_batch.process({"Records": []}, Invocation(), print, sqs=_Sqs(), settings=Settings()) == {
        "batchItemFailures": []
    }


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(["bad0", "bad1", "ok0", "ok1", "ok2", "ok3", "ok4", "ok5"]),
)
def test_healthy_mails_are_always_tried_whatever_the_order_of_one_bad_vaults_mails(order: list[str]) -> None:
    """Two mails of one vault answering 503 forever never starve their batch-mates, in any order."""
    ids = {f"m{i}": name for i, name in enumerate(order)}
    fails = {m: _slot_503("bad@acme.com") for m, name in ids.items() if name.startswith("bad")}
    tried, failed, _ = _run(len(order), fails)
    assert [t.split()[0] for t in tried] == list(ids) and failed == set(fails)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=10),
    vaults=st.lists(st.sampled_from("abc"), min_size=10, max_size=10),
)
def test_the_api_down_for_everyone_costs_a_batch_at_most_three_mails_attempts(
    n: int, vaults: list[str]
) -> None:
    fails = {f"m{i}": _slot_503(f"{vaults[i]}@acme.com") for i in range(n)}
    tried, failed, _ = _run(n, fails)
    assert len(tried) <= queue_batch.OUTAGE_AFTER_ANY and failed == set(fails)
