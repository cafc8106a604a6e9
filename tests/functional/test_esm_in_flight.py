"""The local event source under a scaled SQS clock: a running invocation's messages never come back.

In AWS a message cannot be received again while its invocation runs: the function's timeout
is at most the queue's visibility timeout, six times less by AWS's advice (Lambda Developer
Guide, "Creating and configuring an Amazon SQS event source mapping",
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html). With moto's SQS
clock 600 times faster, a queue's 60 s are 0.1 s of real time, which any invocation outlasts:
these tests make one invocation last fifty visibility timeouts of SQS time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from vaultmail_dev import esm

SCALE = 600.0
VISIBILITY = 60  # SQS seconds: 0.1 s of real time
# the first invocation lasts SLOW visibility timeouts of SQS time (5 s of real time): moto's long
# poll waits in real seconds, so a message visible again is received within a second or two
SLOW = 50
REAL_TIME_BOUND = 30.0  # a guard against hanging, never an assertion


@pytest.fixture
def scaled(aws_env: Any) -> Iterator[tuple[Any, str, str, Callable[[], float]]]:
    sqs = boto3.client("sqs")
    attributes = {"VisibilityTimeout": str(VISIBILITY)}
    url = sqs.create_queue(QueueName="in-flight", Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with esm.scale_sqs_time(SCALE) as clock:
        yield sqs, url, arn, clock


class SlowFunction:
    """Each invocation records its receive counts; the first one lasts SLOW visibility timeouts
    of SQS time (or until a second invocation starts), and may change its message's visibility."""

    def __init__(self, sqs: Any, url: str, clock: Callable[[], float], *, own_visibility: int | None = None):
        self.sqs, self.url, self.clock, self.own_visibility = sqs, url, clock, own_visibility
        self.counts: list[list[str]] = []
        self.second = threading.Event()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        records = event["Records"]
        self.counts.append([r["attributes"]["ApproximateReceiveCount"] for r in records])
        if len(self.counts) > 1:
            self.second.set()
            return {"batchItemFailures": []}
        if self.own_visibility is not None:  # the function's own backoff, as queue_batch sets it
            for r in records:
                self.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=r["receiptHandle"], VisibilityTimeout=self.own_visibility
                )
        ends, guard = self.clock() + SLOW * VISIBILITY, time.monotonic() + REAL_TIME_BOUND
        while self.clock() < ends and time.monotonic() < guard and not self.second.is_set():
            time.sleep(0.01)
        return {"batchItemFailures": []}


def run_once(
    sqs: Any, url: str, arn: str, function: SlowFunction, in_flight: esm.InFlight | None
) -> esm.Stats:
    spec = esm.SourceSpec(function="Slow", queue_url=url, queue_arn=arn, batch_size=1, report_failures=True)
    source = esm.EventSource(spec, sqs, function, clock=function.clock, workers=2, in_flight=in_flight)
    sqs.send_message(QueueUrl=url, MessageBody="one mail")
    source.start()
    guard = time.monotonic() + REAL_TIME_BOUND
    while (source.stats.invocations == 0 or not source.idle()) and time.monotonic() < guard:
        time.sleep(0.01)
    source.stop()
    return source.stats


def test_a_slow_invocation_under_a_scaled_clock_receives_its_message_once(scaled: Any) -> None:
    sqs, url, arn, clock = scaled
    function = SlowFunction(sqs, url, clock)
    with esm.hold_in_flight() as in_flight:
        stats = run_once(sqs, url, arn, function, in_flight)
    assert function.counts == [["1"]]  # received once, for the one invocation that ran
    assert stats.invocations == 1 and stats.deleted == 1
    assert esm.receive(sqs, url) == []  # deleted, not back


def test_without_the_hold_the_message_comes_back_during_its_invocation(scaled: Any) -> None:
    """What the hold prevents (moto alone): the same message, received again while its batch runs."""
    sqs, url, arn, clock = scaled
    function = SlowFunction(sqs, url, clock)
    run_once(sqs, url, arn, function, None)
    assert function.counts[:2] == [["1"], ["2"]]


def test_the_functions_own_visibility_ends_the_hold(scaled: Any) -> None:
    """ChangeMessageVisibility by the function applies as given (here 1 s of SQS time, as a short
    backoff would): the message comes back while the invocation runs, as it would in AWS."""
    sqs, url, arn, clock = scaled
    function = SlowFunction(sqs, url, clock, own_visibility=1)
    with esm.hold_in_flight() as in_flight:
        run_once(sqs, url, arn, function, in_flight)
    assert function.counts[:2] == [["1"], ["2"]]


def test_the_hold_ends_with_the_block_and_with_the_invocation(scaled: Any) -> None:
    import moto.sqs.models as sqs_models

    sqs, url, arn, clock = scaled
    before = sqs_models.Message.visible, sqs_models.Message.change_visibility
    with esm.hold_in_flight() as in_flight:
        run_once(sqs, url, arn, SlowFunction(sqs, url, clock), in_flight)
        assert not in_flight._handles  # every batch released once its invocation ended
    assert (sqs_models.Message.visible, sqs_models.Message.change_visibility) == before
