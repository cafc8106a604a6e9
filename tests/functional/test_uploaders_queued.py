"""The uploaders fed by SQS, as Lambda's event source calls them: moto's own queues, notifications
and SNS deliveries; partial batch responses; the backoff set as each failed message's visibility."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from vaultmail import backoff, queue_batch, runtime
from vaultmail.errors import StorageError, UploadFailed
from vaultmail.uploader import Uploader
from vaultmail_dev.esm import receive, sqs_event
from vaultmail_dev.mails import mail

from .lambdas import FakeContext, LambdaWorld, load_handler, queue_for

S3_APP = load_handler("s3_uploader")
SNS_APP = load_handler("sns_uploader")


def queued(world: LambdaWorld, name: str) -> tuple[str, str]:
    url, arn = queue_for(world.sqs, name)
    world.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5400"})
    return url, arn


def batches(world: LambdaWorld, url: str, arn: str) -> list[dict[str, Any]]:
    """Every message of the queue, as event source batches of up to 10 (left in flight)."""
    events = []
    while msgs := receive(world.sqs, url):
        events.append(sqs_event(msgs, arn))
    return events


def topic_queue(world: LambdaWorld) -> tuple[str, str]:
    url, arn = queued(world, "sns-uploader-queue")
    world.sns.subscribe(TopicArn=world.topic, Protocol="sqs", Endpoint=arn)  # RawMessageDelivery off
    return url, arn


def bucket_queue(world: LambdaWorld) -> tuple[str, str]:
    url, arn = queued(world, "s3-uploader-queue")
    world.s3.put_bucket_notification_configuration(
        Bucket=world.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    return url, arn


def invisible_for(queue_name: str) -> list[float]:
    """Seconds until each in-flight message of a queue is visible again (moto runs in this process)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends["123456789012"]["us-east-1"].queues[queue_name]
    now = time.time() * 1000
    return sorted((m.visible_at - now) / 1000 for m in queue._messages if not m.visible)


def key_of(body: str) -> str | None:
    """The (decoded) object key of a queued S3 notification; None for S3's test event."""
    records = json.loads(body).get("Records")
    return unquote_plus(records[0]["s3"]["object"]["key"]) if records else None


def tags(world: LambdaWorld, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in world.s3.get_object_tagging(Bucket=world.bucket, Key=key)["TagSet"]}


def test_every_sns_format_through_the_queue(lambda_world: LambdaWorld, emulator: Any) -> None:
    import sns_extended_client  # noqa: F401  (adds large-payload support to boto3's SNS client)

    w = lambda_world
    url, arn = topic_queue(w)
    w.s3.put_object(Bucket=w.bucket, Key="in/s3.eml", Body=mail("by s3 envelope", to="ops@acme.com"))
    w.s3.put_object(
        Bucket=w.bucket, Key="ses/obj", Body=mail("ses s3", sender="v@supplier.io", to="x@supplier.io")
    )
    ses_s3 = {
        "notificationType": "Received",
        "mail": {"messageId": "ses-1"},
        "receipt": {
            "recipients": ["ceo@acme.com"],
            "action": {"type": "S3", "bucketName": w.bucket, "objectKey": "ses/obj"},
        },
    }
    ses_sns = {
        "notificationType": "Received",
        "mail": {"messageId": "ses-2"},
        "receipt": {"recipients": ["cfo@acme.com"], "action": {"type": "SNS", "encoding": "BASE64"}},
        "content": base64.b64encode(mail("ses sns", sender="v@supplier.io", to="y@supplier.io")).decode(),
    }
    messages = [
        mail("raw").decode(),
        json.dumps({"mail": mail("envelope", to="x@other.net").decode(), "recipients": ["legal@acme.com"]}),
        json.dumps({"mailBase64": base64.b64encode(mail("b64")).decode()}),
        json.dumps({"s3": {"bucket": w.bucket, "key": "in/s3.eml"}}),
        json.dumps(ses_s3),
        json.dumps(ses_sns),
        json.dumps({"notificationType": "AMAZON_SES_SETUP_NOTIFICATION"}),
    ]
    for m in messages:
        w.sns.publish(TopicArn=w.topic, Message=m)
    w.sns.publish(  # -r as a message attribute (String.Array)
        TopicArn=w.topic,
        Message=mail("attrs", to="x@other.net").decode(),
        MessageAttributes={"recipients": {"DataType": "String.Array", "StringValue": '["hr@acme.com"]'}},
    )
    extended = boto3.client("sns")
    extended.large_payload_support = w.bucket
    extended.s3_client = boto3.client("s3")
    extended.publish(TopicArn=w.topic, Message=mail("extended", attachment_bytes=300_000).decode())
    answers = [SNS_APP.lambda_handler(event, FakeContext()) for event in batches(w, url, arn)]
    assert answers and all(a == {"batchItemFailures": []} for a in answers), answers
    vaults = sorted(tuple(r["vaults"]) for r in emulator.records())
    assert len(vaults) == 8  # every message but SES's setup notification
    assert ("ceo@acme.com",) in vaults and ("cfo@acme.com",) in vaults  # envelope recipients (Bcc)
    assert ("amit@acme.com", "hr@acme.com") in vaults and ("amit@acme.com", "legal@acme.com") in vaults


def test_s3_notifications_through_the_queue(lambda_world: LambdaWorld, emulator: Any) -> None:
    w = lambda_world
    url, arn = bucket_queue(w)
    keys = ["inbox/plain.eml", "inbox/with space.eml", "inbox/a+b.eml", "inbox/été/ünï.eml", "inbox/folder/"]
    for i, key in enumerate(keys):
        w.s3.put_object(Bucket=w.bucket, Key=key, Body=b"" if key.endswith("/") else mail(f"s {i}"))
    w.s3.put_object(
        Bucket=w.bucket, Key="inbox/nobody.eml", Body=mail("n", sender="x@other.net", to="y@other.net")
    )
    events = batches(w, url, arn)
    bodies = [json.loads(r["body"]) for e in events for r in e["Records"]]
    assert any(b.get("Event") == "s3:TestEvent" for b in bodies)  # S3's (moto's) first message
    answers = [S3_APP.lambda_handler(event, FakeContext()) for event in events]
    assert all(a == {"batchItemFailures": []} for a in answers), answers  # rejections are acknowledged
    assert len(emulator.records()) == 4
    for key in keys[:4]:
        assert tags(w, key)["vaultmail-status"] == "archived"
    assert tags(w, "inbox/nobody.eml")["vaultmail-reason"] == "NoPrimaryDomainRecipient"


def test_eventbridge_events_and_bad_bodies_through_the_queue(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    w = lambda_world
    url, arn = queued(w, "s3-uploader-queue")
    put = w.s3.put_object(Bucket=w.bucket, Key="ext/a.eml", Body=mail("bridged"))
    bridged = json.loads(load_sample("s3-eventbridge-object-created.json"))
    bridged["detail"]["bucket"]["name"] = w.bucket
    bridged["detail"]["object"] |= {
        "key": "ext/a.eml",
        "etag": put["ETag"].strip('"'),
        "version-id": put["VersionId"],
    }
    for body in (json.dumps(bridged), "not json", json.dumps(["a", "list"])):
        w.sqs.send_message(QueueUrl=url, MessageBody=body)
    (event,) = batches(w, url, arn)
    assert S3_APP.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert tags(w, "ext/a.eml")["vaultmail-status"] == "archived"
    assert len(emulator.records()) == 1


def load_sample(name: str) -> str:
    from .lambdas import EVENTS

    return (EVENTS / name).read_text()


def test_one_failing_mail_never_reruns_the_others(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = lambda_world
    url, arn = bucket_queue(w)
    for name in ("a", "b", "c"):
        w.s3.put_object(Bucket=w.bucket, Key=f"batch/{name}.eml", Body=mail(f"mail {name}"))
    real_run = Uploader.run

    def b_unreadable(self: Uploader, job: Any) -> Any:
        if job.s3.key == "batch/b.eml":
            raise StorageError("simulated: S3 read failed")  # transient, not the API: no outage
        return real_run(self, job)

    monkeypatch.setattr(Uploader, "run", b_unreadable)
    (event,) = batches(w, url, arn)
    ids = {key_of(r["body"]): r["messageId"] for r in event["Records"]}
    answer = S3_APP.lambda_handler(event, FakeContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": ids["batch/b.eml"]}]}
    assert sorted(r["stores"] for r in emulator.records()) == [1, 1]
    # b's message comes back alone (its own visibility timeout); a and c are not run again
    monkeypatch.setattr(Uploader, "run", real_run)
    (again,) = [r for r in event["Records"] if r["messageId"] == ids["batch/b.eml"]]
    again["attributes"]["ApproximateReceiveCount"] = "2"
    assert S3_APP.lambda_handler({"Records": [again]}, FakeContext()) == {"batchItemFailures": []}
    assert [r["requests"] for r in emulator.records()] == [1, 1, 1]


def test_an_outage_costs_one_mail_per_batch_and_the_queue_waits(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    w = lambda_world
    url, arn = topic_queue(w)
    for i in range(10):
        w.sns.publish(TopicArn=w.topic, Message=mail(f"during the outage {i}").decode())
    emulator.add_faults([{"target": "uploads", "status": 503, "times": 1000}])
    (event,) = batches(w, url, arn)
    answer = SNS_APP.lambda_handler(event, FakeContext())
    assert len(answer["batchItemFailures"]) == 10
    # the first mail's attempts and one probe request for each of the next two, no more: all ten
    # share their vaults, so two failing alike could be those vaults' own failure; the third in a
    # row stops the batch
    assert emulator.hits["uploads"] == runtime.QUEUED_ATTEMPTS + queue_batch.OUTAGE_AFTER_ANY - 1
    waits = invisible_for("sns-uploader-queue")
    assert len(waits) == 10  # each one back in its queue after the first step of the backoff
    assert all(backoff.BASE_SECONDS - 5 <= s <= backoff.BASE_SECONDS * (1 + backoff.JITTER) for s in waits), (
        waits
    )
    # the next receive of the same messages waits twice as long
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    SNS_APP.lambda_handler(event, FakeContext())
    waits = invisible_for("sns-uploader-queue")
    assert all(2 * backoff.BASE_SECONDS - 5 <= s <= 2 * backoff.BASE_SECONDS * 1.2 for s in waits), waits
    # the API is back: every mail is archived once
    emulator.clear_faults()
    assert SNS_APP.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert sorted(r["stores"] for r in emulator.records()) == [1] * 10


def test_a_long_retry_after_is_waited_in_the_queue(lambda_world: LambdaWorld, emulator: Any) -> None:
    w = lambda_world
    url, arn = topic_queue(w)
    w.sns.publish(TopicArn=w.topic, Message=mail("throttled").decode())
    emulator.add_faults([{"target": "uploads", "status": 429, "retryAfter": 600, "times": 10}])
    (event,) = batches(w, url, arn)
    assert len(SNS_APP.lambda_handler(event, FakeContext())["batchItemFailures"]) == 1
    assert emulator.hits["uploads"] == 1  # not slept on, not retried: the queue waits
    (wait,) = invisible_for("sns-uploader-queue")
    assert 595 <= wait <= 600


def test_no_mail_is_started_without_the_time_to_finish(lambda_world: LambdaWorld, emulator: Any) -> None:
    w = lambda_world
    url, arn = topic_queue(w)
    w.sns.publish(TopicArn=w.topic, Message=mail("late").decode())
    (event,) = batches(w, url, arn)
    answer = SNS_APP.lambda_handler(event, FakeContext(remaining_ms=20_000))
    assert len(answer["batchItemFailures"]) == 1 and emulator.hits["uploads"] == 0


def test_permanent_failures_and_duplicates_are_acknowledged(lambda_world: LambdaWorld, emulator: Any) -> None:
    w = lambda_world
    url, arn = topic_queue(w)
    w.sns.publish(TopicArn=w.topic, Message=mail("nobody", sender="a@other.net", to="b@other.net").decode())
    w.sns.publish(TopicArn=w.topic, Message="{not json")
    w.sns.publish(TopicArn=w.topic, Message=mail("twice").decode())
    (event,) = batches(w, url, arn)
    for _ in range(2):  # SQS delivers at least once: the same messages again upload nothing
        assert SNS_APP.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    (record,) = emulator.records()
    assert record["requests"] == 1


def test_unexpected_errors_are_batch_item_failures_not_function_errors(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Uploader, job: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Uploader, "run", broken)
    w = lambda_world
    url, arn = topic_queue(w)
    w.sns.publish(TopicArn=w.topic, Message=mail("bug").decode())
    (event,) = batches(w, url, arn)
    (failure,) = SNS_APP.lambda_handler(event, FakeContext())["batchItemFailures"]
    assert failure["itemIdentifier"] == event["Records"][0]["messageId"]
    assert not isinstance(RuntimeError(), UploadFailed)
