"""The scanner's arrival path and backstop sweep through its handler, on moto over HTTP: S3
"Object Created" events as S3 sends them to EventBridge (the AWS docs' shape, a fixture file),
wrapped in SQS records as the rule's queue target delivers them; the sweep's continuation;
an S3 Batch Operations task; and the watermark that makes a sweep with nothing new cheap."""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
import pytest

from vaultmail.settings import get_settings

from .lambdas import FakeContext, load_handler
from .test_scanner import BUCKET, SMALL_THRESHOLD, CountingS3, RecordingSes, World, make_mail, world

__all__ = ["world"]  # the fixture, shared with test_scanner.py

FIXTURES = Path(__file__).parent / "fixtures" / "events"
CREATED = json.loads((FIXTURES / "s3-eventbridge-object-created.json").read_text())


def created(world: World, key: str) -> dict[str, Any]:
    """The Object Created event S3 would send for ``key`` as it is in the bucket now."""
    head = world.s3.head_object(Bucket=BUCKET, Key=key)
    event = copy.deepcopy(CREATED)
    event["time"] = head["LastModified"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["object"].update(key=key, size=head["ContentLength"], etag=head["ETag"].strip('"'))
    return event


def sqs_batch(*bodies: dict[str, Any]) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it (one record per body)."""
    arn = "arn:aws:sqs:us-east-1:123456789012:vaultmail-OversizeScannerQueue"
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"rh-{i}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


class Calls:
    """S3 and DynamoDB calls counted with botocore's event hooks."""

    def __init__(self, *clients: Any) -> None:
        self.count: Counter[str] = Counter()
        for client in clients:
            client.meta.events.register("before-call.*.*", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.count[model.name] += 1


@pytest.fixture
def app(world: World, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = load_handler("oversize_scanner")
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="scanner-queue")["QueueUrl"]
    monkeypatch.setenv("SCAN_QUEUE_URL", url)
    get_settings.cache_clear()
    module.sqs_url = url
    module.ses = RecordingSes(world.ses)
    module.s3 = CountingS3(world.s3)
    monkeypatch.setattr(module, "scanner", lambda settings: world.scanner(s3=module.s3, ses=module.ses))
    yield module
    get_settings.cache_clear()


def test_an_oversize_mail_is_noticed_on_arrival_from_its_header_alone(world: World, app: Any) -> None:
    world.put("mail/arrived.eml", make_mail(2 * SMALL_THRESHOLD, to="Bob <bob@acme.com>"))
    calls = Calls(world.s3, world.ddb)
    answer = app.lambda_handler(sqs_batch(created(world, "mail/arrived.eml")), FakeContext(60_000))
    assert answer == {"batchItemFailures": []}
    (notice,) = app.ses.notices()
    assert notice["Destination"]["ToAddresses"] == ["bob@acme.com"]
    assert app.s3.ranges["mail/arrived.eml"] == [f"bytes=0-{64 * 1024 - 1}"]  # one ranged GET
    assert calls.count["ListObjectsV2"] == 0


def test_notice_latency_and_every_header_byte_read_are_metrics(
    world: World, app: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    world.put("mail/fresh.eml", make_mail(SMALL_THRESHOLD, to="fresh@acme.com"))
    world.put("mail/binary.eml", b"\r\n" + b"\x00" * SMALL_THRESHOLD)  # no header block: not a mail
    for key in ("mail/fresh.eml", "mail/binary.eml"):
        app.lambda_handler(sqs_batch(created(world, key)), FakeContext(60_000))
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    fresh, binary = emf
    (latency,) = (
        fresh["NoticeLatency"] if isinstance(fresh["NoticeLatency"], list) else [fresh["NoticeLatency"]]
    )
    assert 0 <= latency < 120  # from the object's LastModified (whole seconds) to the send
    assert binary["UnreadableMails"] in (1.0, [1.0])
    assert binary["HeaderBytesRead"] in (64 * 1024.0, [64 * 1024.0])  # the read of an unreadable mail counts
    assert "NoticeLatency" not in binary


def test_a_small_mail_is_not_noticed(world: World, app: Any) -> None:
    world.put("mail/small.eml", make_mail(SMALL_THRESHOLD // 2))
    answer = app.lambda_handler(sqs_batch(created(world, "mail/small.eml")), FakeContext(60_000))
    assert answer == {"batchItemFailures": []} and app.ses.sent == [] and app.s3.read == {}


def test_the_sweep_does_not_notice_an_arrived_mail_again(world: World, app: Any) -> None:
    world.put("mail/once.eml", make_mail(SMALL_THRESHOLD, to="once@acme.com"))
    app.lambda_handler(sqs_batch(created(world, "mail/once.eml")), FakeContext(60_000))
    swept = app.lambda_handler(
        {"detail-type": "Scheduled Event", "source": "aws.events"}, FakeContext(60_000)
    )
    assert (swept["notified"], swept["alreadyNotified"]) == (0, 1)
    assert len(app.ses.notices()) == 1


def test_a_failed_arrival_is_retried_and_the_sweep_finds_it(world: World, app: Any) -> None:
    from botocore.exceptions import ClientError

    from vaultmail.ses import convert

    world.put("mail/later.eml", make_mail(SMALL_THRESHOLD, to="later@acme.com"))
    throttled = ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow"}}, "SendEmail")
    app.ses.fail = lambda request: convert(throttled, "notices@acme.com")
    answer = app.lambda_handler(sqs_batch(created(world, "mail/later.eml")), FakeContext(60_000))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}  # back to the queue
    item = world.item("mail/later.eml")
    assert (
        item is not None
        and item["status"]["S"] == "failed"
        and "TooManyRequests" in item["failedReason"]["S"]
    )
    app.ses.fail = None
    swept = app.lambda_handler({"detail-type": "Scheduled Event"}, FakeContext(60_000))
    assert swept["notified"] == 1 and len(app.ses.notices()) == 1


def test_a_cut_sweep_hands_its_cursor_to_the_next_invocation(
    world: World, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultmail.scanner import listing

    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    for i in range(5):
        world.put(f"mail/c{i}.eml", make_mail(SMALL_THRESHOLD, to=f"c{i}@acme.com"))
    budget = iter([60_000] * 4 + [0] * 100)  # enough for the first page, then the deadline

    class Clock(FakeContext):
        def get_remaining_time_in_millis(self) -> int:
            return next(budget)

    first = app.lambda_handler({"detail-type": "Scheduled Event"}, Clock())
    assert first["complete"] is False and first["halted"] is None
    sqs = boto3.client("sqs")
    (message,) = sqs.receive_message(QueueUrl=app.sqs_url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert body["vaultmail"] == "continue-sweep"
    calls = Calls(world.s3)
    answer = app.lambda_handler(sqs_batch(body), FakeContext(60_000))
    assert answer == {"batchItemFailures": []}
    told = sorted(n["Destination"]["ToAddresses"][0] for n in app.ses.notices())
    assert told == [f"c{i}@acme.com" for i in range(5)]  # each once, the rest by the continuation
    assert calls.count["ListObjectsV2"] <= 3  # from the cursor: the finished page is not listed again


def test_a_second_sweep_with_nothing_new_reads_no_state(world: World, app: Any) -> None:
    for i in range(30):
        world.put(
            f"mail/w{i:02}.eml", make_mail(SMALL_THRESHOLD if i % 3 == 0 else 1000, to=f"w{i}@acme.com")
        )
    later = time.time() + 2 * 3600  # the sweeps run two hours after the mails arrived
    scanner = world.scanner(ses=app.ses, clock=lambda: later)
    first = scanner.run()
    assert first.stats.notified == 10
    calls = Calls(world.ddb)
    second = world.scanner(ses=app.ses, clock=lambda: later + 60).run()
    assert second.stats.seen_before == 10 and second.stats.notified == 0
    assert calls.count["BatchGetItem"] == 0 and calls.count["GetItem"] == 1  # the prefix's pass item


def test_a_failed_mail_holds_the_watermark_so_the_next_sweep_retries_it(world: World, app: Any) -> None:
    from botocore.exceptions import ClientError

    from vaultmail.ses import convert

    world.put("mail/f1.eml", make_mail(SMALL_THRESHOLD, to="f1@acme.com"))
    world.put("mail/f2.eml", make_mail(SMALL_THRESHOLD, to="f2@acme.com"))
    rejected = ClientError({"Error": {"Code": "MessageRejected", "Message": "no"}}, "SendEmail")
    app.ses.fail = lambda r: (
        convert(rejected, "notices@acme.com") if "f1@acme.com" in str(r["Destination"]) else None
    )
    later = time.time() + 2 * 3600
    first = world.scanner(ses=app.ses, clock=lambda: later).run()
    assert (first.stats.notified, first.stats.failed) == (1, 1)
    app.ses.fail = None
    second = world.scanner(ses=app.ses, clock=lambda: later + 60).run()
    assert second.stats.notified == 1  # f1, found again though older than the pass's start


def test_an_s3_batch_operations_task_notices_its_mail(world: World, app: Any) -> None:
    world.put("mail/old.eml", make_mail(SMALL_THRESHOLD, to="old@acme.com"))
    event = {
        "invocationSchemaVersion": "1.0",
        "invocationId": "inv-1",
        "job": {"id": "job-1"},
        "tasks": [
            {
                "taskId": "t-1",
                "s3Key": "mail/old.eml",
                "s3VersionId": None,
                "s3BucketArn": f"arn:aws:s3:::{BUCKET}",
            }
        ],
    }
    answer = app.lambda_handler(event, FakeContext(60_000))
    assert answer["results"] == [{"taskId": "t-1", "resultCode": "Succeeded", "resultString": "notified"}]
    gone = copy.deepcopy(event)
    gone["tasks"][0].update(taskId="t-2", s3Key="mail/nothing.eml")
    (result,) = app.lambda_handler(gone, FakeContext(60_000))["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert len(app.ses.notices()) == 1
    world.put("mail/old2.eml", make_mail(SMALL_THRESHOLD, to="old2@acme.com"))
    v2 = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "inv-2",
        "job": {"id": "job-2", "userArguments": {}},
        "tasks": [{"taskId": "t-3", "s3Key": "mail/old2.eml", "s3VersionId": None, "s3Bucket": BUCKET}],
    }
    (done,) = app.lambda_handler(v2, FakeContext(60_000))["results"]
    assert (done["taskId"], done["resultCode"]) == ("t-3", "Succeeded")
    (again,) = app.lambda_handler(v2, FakeContext(60_000))["results"]  # S3 retried it: nobody twice
    assert (again["resultCode"], again["resultString"]) == ("Succeeded", "already notified")
    assert len(app.ses.notices()) == 2


def test_a_message_that_is_no_arrival_event_is_acknowledged_not_retried(world: World, app: Any) -> None:
    """Permanent: retrying it for 7 hours and dead-lettering it would only raise an alarm."""
    world.put("mail/good.eml", make_mail(2 * SMALL_THRESHOLD, to="good@acme.com"))
    batch = sqs_batch({"detail-type": "Object Deleted", "source": "aws.s3"}, created(world, "mail/good.eml"))
    batch["Records"].append({**batch["Records"][0], "messageId": "m-junk", "body": "not json"})
    answer = app.lambda_handler(batch, FakeContext(60_000))
    assert answer == {"batchItemFailures": []}  # nothing back to the queue
    assert len(app.ses.notices()) == 1  # the real arrival of the batch is noticed
