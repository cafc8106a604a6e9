"""A "6-hour" API outage on the local stack, every queue duration of the template scaled by one
factor (moto's SQS clock runs TIME_SCALE times faster): the mails wait in their queues, backing
off, and are archived once each when the API is back; no replay, no human step, and never more
executions at once than the cap."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import pytest

from vaultmail import backoff, queue_batch, runtime
from vaultmail_dev import sambuild
from vaultmail_dev.mails import mail
from vaultmail_dev.stack import LocalStack

pytestmark = pytest.mark.e2e

TIME_SCALE = 600.0  # 6 hours of SQS time in 36 s
CAP = 3  # ApiConcurrency for this stack
MAILS = 300


@pytest.fixture(scope="module")
def scaled(build: sambuild.Build, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir: Path = tmp_path_factory.mktemp("scaled-stack")
    with LocalStack(
        workdir=workdir,
        build=build,
        parameters={"ApiConcurrency": str(CAP)},
        time_scale=TIME_SCALE,
        max_environments=CAP + 2,  # more environments than the cap allows: the cap must hold
    ) as running:
        yield running


def sqs_sleep(stack: LocalStack, seconds: float) -> None:
    """Wait ``seconds`` of SQS time."""
    time.sleep(seconds / stack.time_scale)


def test_a_six_hour_outage_loses_nothing_and_needs_no_one(scaled: LocalStack) -> None:
    stack = scaled
    sns, s3 = stack.client("sns"), stack.client("s3")
    stack.emulator.add_faults([{"target": "uploads", "status": 503, "times": 10**7}])
    for i in range(MAILS // 2):
        sns.publish(TopicArn=stack.topic(), Message=mail(f"published during the outage {i}").decode())
        s3.put_object(
            Bucket=stack.bucket(), Key=f"outage/{i}.eml", Body=mail(f"dropped during the outage {i}")
        )
    sqs_sleep(stack, 6 * 3600)
    assert stack.emulator.records() == []  # nothing got through ...
    assert stack.waiting() == MAILS  # ... and everything waits in its queue
    assert stack.dlq_records("sns_uploader") == [] and stack.dlq_records("s3_uploader") == []
    outage_invocations = sum(s.stats.invocations for s in stack.sources.values())
    outage_requests = stack.emulator.hits["uploads"]
    stack.emulator.clear_faults()  # the API is back; nobody does anything
    stack.pump(max_seconds=600)
    records = stack.emulator.records()
    assert len(records) == MAILS and all(r["stores"] == 1 for r in records)  # nothing lost, nothing twice
    assert stack.waiting() == 0
    assert stack.dlq_records("sns_uploader") == [] and stack.dlq_records("s3_uploader") == []
    for kind in ("sns_uploader", "s3_uploader"):
        assert stack.function(kind).peak <= CAP  # execution environments busy at once, counted by the pool
        assert stack.source(kind).stats.peak_running <= CAP
        assert stack.source(kind).stats.errors == 0  # partial batch responses, never a function error
    # during the outage an invocation tried one mail (two requests) and probed at most two more
    # (one request each: these mails share their vaults, so two failing alike could be theirs),
    # the rest of its batch waited
    per_invocation = runtime.QUEUED_ATTEMPTS + queue_batch.OUTAGE_AFTER_ANY - 1
    assert 0 < outage_requests <= per_invocation * outage_invocations


def test_an_outage_longer_than_the_tolerance_dead_letters_the_original_messages(scaled: LocalStack) -> None:
    stack = scaled
    stack.emulator.reset()
    stack.emulator.add_faults([{"target": "uploads", "status": 503, "times": 10**7}])
    s3 = stack.client("s3")
    for i in range(3):
        s3.put_object(Bucket=stack.bucket(), Key=f"long/{i}.eml", Body=mail(f"long outage {i}"))
    tolerance = backoff.tolerance(18)
    deadline = time.monotonic() + 3 * tolerance / stack.time_scale
    while len(dead := stack.dlq_records("s3_uploader")) < 3 and time.monotonic() < deadline:
        sqs_sleep(stack, 1800)
    stack.emulator.clear_faults()
    # the dead-letter queue holds the original S3 notifications, whole, for a redrive
    keys = sorted(unquote_plus(d["Records"][0]["s3"]["object"]["key"]) for d in dead)
    assert keys == [f"long/{i}.eml" for i in range(3)], json.dumps(dead)[:500]
    assert stack.waiting() == 0 and stack.emulator.records() == []
