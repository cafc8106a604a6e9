"""End to end: events delivered the way AWS delivers them, to the built functions, on local stand-ins."""

from __future__ import annotations

import json
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
    """Every SNS format and S3 drop of `make demo`, the scanner twice, and the report's checks."""
    expects = demo.publish_all(stack, tmp_path)
    invocations = stack.pump()
    assert all(not inv.dead_lettered for inv in invocations)
    first = stack.run_scanner()
    second = stack.run_scanner()
    assert first["notified"] == 2 and second["notified"] == 0
    code = demo.report(stack, expects, first)
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(stored_once(stack)) == sum(1 for e in expects if not e.rejected)


def test_api_outage_mid_batch_then_dlq_replay(stack: LocalStack) -> None:
    s3 = stack.client("s3")
    sent = 6
    # Two mails go through, then the API answers 503 long enough that the next events exhaust
    # Lambda's three attempts (x2 client attempts each) and land in the dead-letter queue.
    for i in range(2):
        s3.put_object(Bucket=stack.bucket(), Key=f"outage/before-{i}.eml", Body=mail(f"before {i}"))
    stack.pump()
    stack.emulator.add_faults([{"target": "uploads", "status": 503, "times": 1000}])
    for i in range(sent - 2):
        s3.put_object(Bucket=stack.bucket(), Key=f"outage/during-{i}.eml", Body=mail(f"during {i}"))
    invocations = stack.pump()
    assert all(inv.dead_lettered and inv.attempts == 3 for inv in invocations)
    dead = stack.dlq_records("s3_uploader")
    assert len(dead) == sent - 2
    assert all(d["requestContext"]["condition"] == "RetriesExhausted" for d in dead)
    assert all(d["requestPayload"]["Records"][0]["s3"]["object"]["key"].startswith("outage") for d in dead)
    stack.emulator.clear_faults()
    replayed = stack.replay_dlq("s3_uploader")
    assert len(replayed) == sent - 2 and not any(inv.dead_lettered for inv in replayed)
    assert stack.dlq_records("s3_uploader") == []
    assert len(stored_once(stack)) == sent
    # replaying again (an operator double-click) uploads nothing twice
    for inv in replayed:
        stack.function("s3_uploader").invoke_async(inv.event)
    assert len(stored_once(stack)) == sent
    assert all(r["requests"] == 1 for r in stack.emulator.records())


def test_duplicate_sns_deliveries(stack: LocalStack) -> None:
    sns = stack.client("sns")
    sns.publish(TopicArn=stack.topic(), Message=json.dumps({"mail": mail("dup sns").decode()}))
    (inv,) = stack.pump()
    for _ in range(2):  # SNS delivers at least once: the same event again
        stack.function("sns_uploader").invoke_async(inv.event)
    (record,) = stored_once(stack)
    assert record["requests"] == 1


def test_wrong_event_is_not_retried(stack: LocalStack) -> None:
    inv = stack.function("s3_uploader").invoke_async({"hello": "world"})
    assert inv.attempts == 1 and not inv.dead_lettered
    inv = stack.function("sns_uploader").invoke_async(
        {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": "{broken"}}]}
    )
    assert inv.attempts == 1 and inv.result["results"][0]["reason"] == "InvalidEvent"


def test_the_functions_have_only_their_template_roles(stack: LocalStack) -> None:
    """moto checks IAM: a mail in a bucket the S3 uploader's role does not name is refused, and the
    refusal is transient (retried, then dead-lettered whole), never a dropped mail."""
    foreign = "vaultmail-local-not-in-the-template"
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=foreign)
    s3.put_object(Bucket=foreign, Key="inbox/denied.eml", Body=mail("denied by IAM"))
    event = json.loads((ROOT / "events" / "s3-put.json").read_text())
    event["Records"][0]["s3"]["bucket"] |= {"name": foreign, "arn": f"arn:aws:s3:::{foreign}"}
    event["Records"][0]["s3"]["object"] = {"key": "inbox/denied.eml", "size": 1}
    inv = stack.function("s3_uploader").invoke_async(event)
    assert inv.attempts == 3 and inv.dead_lettered
    assert all("AccessDenied" in e for e in inv.errors), inv.errors
    (dead,) = stack.dlq_records("s3_uploader", delete=True)
    assert dead["requestPayload"] == event
    assert stack.emulator.records() == []
    # the same mail in the stack's bucket, which the role names, is archived
    s3.put_object(Bucket=stack.bucket(), Key="inbox/allowed.eml", Body=mail("allowed by IAM"))
    (ok,) = stack.pump()
    assert not ok.dead_lettered and len(stored_once(stack)) == 1
