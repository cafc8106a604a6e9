"""End to end: events delivered the way AWS delivers them, to the built functions, on local stand-ins."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from vaultmail_dev import demo
from vaultmail_dev.mails import mail
from vaultmail_dev.stack import ROOT, LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def clean(stack: LocalStack) -> None:
    stack.emulator.reset()
    for kind in ("sns_uploader", "s3_uploader"):
        stack.dlq_records(kind, delete=True)


def stored_once(stack: LocalStack) -> list[dict[str, Any]]:
    records = stack.emulator.records()
    assert all(r["stores"] == 1 for r in records), [(r["vaults"], r["stores"]) for r in records]
    return records


def test_demo_scenario(stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every SNS format and S3 drop of `make demo`, the oversize mails noticed on arrival (S3 ->
    EventBridge -> the scanner's queue), the sweep twice after them, and the report's checks."""
    expects = demo.publish_all(stack, tmp_path)
    stats = stack.pump()
    assert sum(s.returned for s in stats.values()) == 0  # nothing had to wait
    assert stack.waiting() == 0
    arrived = stack.sent_emails()  # no sweep has run yet
    oversize = [e.subject for e in expects if e.notified]
    assert len(oversize) == len(arrived) == 2
    assert all(sum(s in m["subject"] for m in arrived) == 1 for s in oversize)
    first = stack.run_scanner()
    second = stack.run_scanner()
    assert first["notified"] == 0 and second["notified"] == 0
    code = demo.report(stack, expects, first, arrived)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "GET now 410 (Link withdrawn)" in out  # the demo's click, HEAD and revoke of a link
    assert len(stored_once(stack)) == sum(1 for e in expects if not e.rejected)


def test_duplicate_deliveries_through_the_queue(stack: LocalStack) -> None:
    """SNS and SQS deliver at least once: the same SNS envelope queued three times uploads once."""
    sqs, sns = stack.client("sqs"), stack.client("sns")
    sns.publish(TopicArn=stack.topic(), Message=json.dumps({"mail": mail("dup sns").decode()}))
    stack.pump()
    assert len(stored_once(stack)) == 1
    envelope = {
        "Type": "Notification",
        "MessageId": "dup-0001",
        "TopicArn": stack.topic(),
        "Message": mail("dup again").decode(),
        "Timestamp": "2026-12-01T00:00:00.000Z",
        "MessageAttributes": {},
    }
    for _ in range(3):
        sqs.send_message(QueueUrl=stack.queue("sns_uploader"), MessageBody=json.dumps(envelope))
    stack.pump()
    records = stored_once(stack)
    assert len(records) == 2 and all(r["requests"] == 1 for r in records)


def test_wrong_events_are_not_retried(stack: LocalStack) -> None:
    inv = stack.function("s3_uploader").invoke_async({"hello": "world"})
    assert inv.attempts == 1
    inv = stack.function("sns_uploader").invoke_async(
        {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": "{broken"}}]}
    )
    assert inv.attempts == 1 and inv.result["results"][0]["reason"] == "InvalidEvent"
    sqs = stack.client("sqs")  # through the queues: acknowledged (deleted), not retried
    for kind in ("s3_uploader", "sns_uploader"):
        sqs.send_message(QueueUrl=stack.queue(kind), MessageBody="not an event")
    stack.pump()
    assert stack.waiting() == 0
    assert stack.dlq_records("s3_uploader") == [] and stack.dlq_records("sns_uploader") == []


def test_the_functions_have_only_their_template_roles(stack: LocalStack) -> None:
    """moto checks IAM: a mail in a bucket the S3 uploader's role does not name is refused, and the
    refusal is transient (its message goes back to the queue to wait), never a dropped mail."""
    foreign = "vaultmail-local-not-in-the-template"
    s3, sqs = stack.client("s3"), stack.client("sqs")
    s3.create_bucket(Bucket=foreign)
    s3.put_object(Bucket=foreign, Key="inbox/denied.eml", Body=mail("denied by IAM"))
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    event["Records"][0]["s3"]["bucket"] |= {"name": foreign, "arn": f"arn:aws:s3:::{foreign}"}
    event["Records"][0]["s3"]["object"] = {"key": "inbox/denied.eml", "size": 1}
    inv = stack.function("s3_uploader").invoke_async(event)  # directly: raised, so retried
    assert inv.attempts == 3
    assert all("AccessDenied" in e for e in inv.errors), inv.errors
    source = stack.source("s3_uploader")
    returned = source.stats.returned
    sqs.send_message(QueueUrl=stack.queue("s3_uploader"), MessageBody=json.dumps(event))
    for _ in range(200):  # one delivery: the message goes back to its queue, with its backoff
        if source.stats.returned > returned:
            break
        time.sleep(0.05)
    assert source.stats.returned == returned + 1 and stack.waiting() == 1
    sqs.purge_queue(QueueUrl=stack.queue("s3_uploader"))
    assert stack.emulator.records() == []
    # the same mail in the stack's bucket, which the role names, is archived
    s3.put_object(Bucket=stack.bucket(), Key="inbox/allowed.eml", Body=mail("allowed by IAM"))
    stack.pump()
    assert len(stored_once(stack)) == 1


def test_a_pointer_is_followed_only_into_the_pointer_locations(stack: LocalStack) -> None:
    """Issue 20: a publisher cannot have an archived mail copied into a vault of its choosing. The
    template's POINTER_LOCATIONS and the SNS uploader's role (enforced by moto) agree: the mail
    bucket only under SesKeyPrefixes (ses/), the payload bucket."""
    s3, sns = stack.client("s3"), stack.client("sns")
    s3.put_object(Bucket=stack.bucket(), Key="private/ceo-board.eml", Body=mail("board", to="ceo@acme.com"))
    s3.put_object(Bucket=stack.bucket(), Key="ses/abc", Body=mail("via ses", to="ops@acme.com"))
    stack.pump()  # the S3 uploader archives the dropped mail (and leaves ses/ to the notification)
    stack.emulator.reset()
    forged = {
        "s3": {"bucket": stack.bucket(), "key": "private/ceo-board.eml"},
        "recipients": ["intern@acme.com"],
    }
    sns.publish(TopicArn=stack.topic(), Message=json.dumps(forged))
    stack.pump()
    assert stack.emulator.records() == [] and stack.waiting() == 0  # rejected, not retried
    assert stack.dlq_records("sns_uploader") == []
    allowed = {"s3": {"bucket": stack.bucket(), "key": "ses/abc"}, "recipients": ["legal@acme.com"]}
    sns.publish(TopicArn=stack.topic(), Message=json.dumps(allowed))
    stack.pump()
    (record,) = stored_once(stack)
    assert "legal@acme.com" in record["vaults"]
