"""`vaultmail replay` on the local stack's redrive (vaultmail_dev.redrive.LocalMover) and moto's
SQS: messages dead-lettered by a redrive policy move back to their source queue as they were;
a dry run counts them and leaves them visible."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from vaultmail.errors import ReplayError
from vaultmail.replay import inspect, replay, resolve_queue
from vaultmail_dev import redrive
from vaultmail_dev.redrive import LocalMover

ATTRIBUTES = {
    "kind": {"DataType": "String", "StringValue": "s3"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
}


@pytest.fixture
def sqs(aws_env: dict[str, str]) -> Any:
    return boto3.client("sqs")


def queue(sqs: Any, name: str, dlq_arn: str | None = None) -> tuple[str, str]:
    attributes = {}
    if dlq_arn:
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def dead_letter(sqs: Any, source: str, bodies: list[str]) -> None:
    """Send, then fail each message maxReceiveCount (1) times: moto moves it on the next receive."""
    for body in bodies:
        sqs.send_message(QueueUrl=source, MessageBody=body, MessageAttributes=ATTRIBUTES)
    for _ in range(3):
        sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert count(sqs, source) == 0


def count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                      VisibilityTimeout=30).get("Messages", []):
        out.extend(msgs)
    return out


@pytest.fixture
def world(sqs: Any) -> tuple[str, str, str]:
    """(dlq url, source url, dlq arn) with 12 dead-lettered messages."""
    dlq, dlq_arn = queue(sqs, "vaultmail-test-dlq")
    source, _ = queue(sqs, "vaultmail-test", dlq_arn)
    dead_letter(sqs, source, [json.dumps({"n": n}) for n in range(12)])
    assert count(sqs, dlq) == 12
    return dlq, source, dlq_arn


def test_messages_move_back_to_their_source_as_they_were(sqs: Any, world: tuple[str, str, str]) -> None:
    dlq, source, _ = world
    task = redrive.redrive(sqs, "vaultmail-test-dlq")  # by name; URL and ARN work alike
    assert (task.status, task.moved, task.to_move) == ("COMPLETED", 12, 12)
    assert count(sqs, dlq) == 0
    back = drain(sqs, source)
    assert sorted(json.loads(m["Body"])["n"] for m in back) == list(range(12))
    for message in back:
        attributes = message["MessageAttributes"]
        assert {k: v.get("StringValue", v.get("BinaryValue")) for k, v in attributes.items()} == {
            "kind": "s3", "blob": b"\x00\x01"
        }


def test_a_dry_run_counts_and_leaves_every_message_visible(
    sqs: Any, world: tuple[str, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    dlq, source, dlq_arn = world
    assert redrive.main(["--queue", dlq_arn, "--dry-run", "--peek", "10", "--json"]) == 0
    (report,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (report["visible"], report["inFlight"], report["sources"]) == (12, 0, [source])
    assert len(report["peeked"]) == 10 and all("Body" not in p for p in report["peeked"])
    backlog = inspect(sqs, resolve_queue(sqs, dlq))
    assert (backlog.visible, backlog.in_flight) == (12, 0)  # nothing hidden by the peek
    assert redrive.main(["--queue", dlq, "--poll", "0.05"]) == 0  # dry run, then replay: all of them
    out = capsys.readouterr().out
    assert "vaultmail-test-dlq: 12 message(s) moved back to" in out
    assert count(sqs, source) == 12 and count(sqs, dlq) == 0


def test_the_rate_and_a_cancel_leave_the_rest_in_the_queue(sqs: Any, world: tuple[str, str, str]) -> None:
    dlq, _, dlq_arn = world
    mover = LocalMover(sqs)
    mover.start(dlq_arn, max_per_second=1)
    with pytest.raises(ReplayError, match="already running"):
        list(replay(mover, resolve_queue(sqs, dlq)))
    (running,) = mover.tasks(dlq_arn)
    assert running.handle is not None
    mover.cancel(running.handle)
    mover.wait(timeout=30)
    (done,) = mover.tasks(dlq_arn)
    assert done.status == "CANCELLED" and done.handle is None and done.moved < 12
    assert count(sqs, dlq) == 12 - done.moved  # the rest visible again, nothing lost


def test_only_a_dead_letter_queue_can_be_redriven(sqs: Any, world: tuple[str, str, str]) -> None:
    _, source, _ = world
    with pytest.raises(ReplayError, match="dead-letter queue"):
        redrive.redrive(sqs, source)
    assert redrive.main(["--queue", source]) == 3  # the command says so too, before any move


def test_several_sources_without_the_source_attribute_fail_the_task(
    sqs: Any, world: tuple[str, str, str]
) -> None:
    """moto does not set DeadLetterQueueSourceArn: with two sources the mover cannot tell, and
    says so (FAILED) rather than sending a message to the wrong queue."""
    dlq, _, dlq_arn = world
    other, _ = queue(sqs, "vaultmail-test-other", dlq_arn)
    task = redrive.redrive(sqs, dlq)
    assert task.status == "FAILED" and task.moved == 0 and "source queue" in str(task.failure)
    assert count(sqs, dlq) == 12 and count(sqs, other) == 0
