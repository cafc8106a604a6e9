"""SNS and S3 uploaders in-process against moto (events produced by moto itself) and the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from vaultmail.errors import UploadFailed
from vaultmail_dev.mails import mail
from vaultmail_dev.stack import sns_event

from .lambdas import FakeContext, LambdaWorld, drain, load_handler, queue_for

S3_APP = load_handler("s3_uploader")
SNS_APP = load_handler("sns_uploader")


def s3_events_for(world: LambdaWorld, objects: dict[str, bytes]) -> list[dict[str, Any]]:
    """Put objects with an S3 -> SQS notification configured; return the Lambda events moto made."""
    url, arn = queue_for(world.sqs, "s3-events")
    world.s3.put_bucket_notification_configuration(
        Bucket=world.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    for key, body in objects.items():
        world.s3.put_object(Bucket=world.bucket, Key=key, Body=body)
    return drain(world.sqs, url)


def tags(world: LambdaWorld, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in world.s3.get_object_tagging(Bucket=world.bucket, Key=key)["TagSet"]}


def test_s3_notifications_from_moto_with_odd_keys(lambda_world: LambdaWorld, emulator: Any) -> None:
    keys = ["inbox/plain.eml", "inbox/with space.eml", "inbox/a+b.eml", "inbox/été 2026/ünï.eml"]
    bodies = {k: mail(f"subject {i}", to="ops@acme.com") for i, k in enumerate(keys)}
    events = s3_events_for(lambda_world, bodies)
    assert any(e.get("Event") == "s3:TestEvent" for e in events)  # moto's first message
    for event in events:
        S3_APP.lambda_handler(event, FakeContext())
    records = emulator.records()
    assert len(records) == len(keys)
    assert all(r["stores"] == 1 and sorted(r["vaults"]) == ["amit@acme.com", "ops@acme.com"] for r in records)
    for key in keys:
        assert tags(lambda_world, key)["vaultmail-status"] == "archived"


def test_duplicate_delivery_uploads_once(lambda_world: LambdaWorld, emulator: Any) -> None:
    events = [e for e in s3_events_for(lambda_world, {"dup.eml": mail("dup")}) if "Records" in e]
    for _ in range(3):
        S3_APP.lambda_handler(events[0], FakeContext())
    (record,) = emulator.records()
    assert record["stores"] == 1 and record["requests"] == 1


def test_permanent_failures_are_tagged_not_raised(lambda_world: LambdaWorld, emulator: Any) -> None:
    objects = {
        "nobody.eml": mail("nobody", sender="x@other.net", to="y@other.net"),
        "junk.bin": b"\x00\x01\x02 not a mail",
        "folder/": b"",
    }
    events = [e for e in s3_events_for(lambda_world, objects) if "Records" in e]
    results = [S3_APP.lambda_handler(e, FakeContext()) for e in events]
    assert emulator.records() == []
    assert tags(lambda_world, "nobody.eml") == {
        "vaultmail-status": "rejected",
        "vaultmail-reason": "NoPrimaryDomainRecipient",
    }
    assert tags(lambda_world, "junk.bin")["vaultmail-status"] == "rejected"
    statuses = [r["status"] for res in results for r in res["results"]]
    assert statuses.count("rejected") == 2


def test_over_50_mb_is_rejected_without_a_request(
    lambda_world: LambdaWorld, emulator: Any, tmp_path: Path
) -> None:
    big = tmp_path / "big.eml"
    with big.open("wb") as fh:
        fh.write(mail("big"))
        fh.truncate(52_428_801)
    lambda_world.s3.upload_file(str(big), lambda_world.bucket, "big.eml")
    event = s3_notification(lambda_world.bucket, "big.eml", 52_428_801)
    S3_APP.lambda_handler(event, FakeContext())
    assert emulator.hits.get("uploads", 0) == 0
    assert tags(lambda_world, "big.eml")["vaultmail-reason"] == "MailTooLarge"


def test_transient_failure_raises_then_retry_succeeds(lambda_world: LambdaWorld, emulator: Any) -> None:
    lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key="retry.eml", Body=mail("retry"))
    event = s3_notification(lambda_world.bucket, "retry.eml", 100)
    emulator.add_faults([{"target": "uploads", "status": 503, "times": 2}])
    with pytest.raises(UploadFailed):
        S3_APP.lambda_handler(event, FakeContext())  # Lambda would retry this event
    S3_APP.lambda_handler(event, FakeContext())  # the retry: idempotency record was released
    (record,) = emulator.records()
    assert record["stores"] == 1


def test_awscli_cp_is_archived(lambda_world: LambdaWorld, emulator: Any, tmp_path: Path) -> None:
    url, arn = queue_for(lambda_world.sqs, "cli-events")
    lambda_world.s3.put_bucket_notification_configuration(
        Bucket=lambda_world.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    path = tmp_path / "from cli.eml"
    path.write_bytes(mail("copied with aws s3 cp", attachment_bytes=9 * 1024 * 1024))  # multipart upload
    aws = str(Path(sys.executable).with_name("aws"))
    subprocess.run(
        [
            aws,
            "s3",
            "cp",
            str(path),
            f"s3://{lambda_world.bucket}/cli/from cli.eml",
            "--endpoint-url",
            os.environ["AWS_ENDPOINT_URL"],
        ],
        check=True,
        capture_output=True,
    )
    for event in drain(lambda_world.sqs, url):
        if "Records" in event:
            S3_APP.lambda_handler(event, FakeContext())
    (record,) = emulator.records()
    assert record["size"] == path.stat().st_size


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_s3_batch_operations(lambda_world: LambdaWorld, emulator: Any, version: str) -> None:
    s3 = lambda_world.s3
    s3.put_object(Bucket=lambda_world.bucket, Key="old/one.eml", Body=mail("old one"))
    stranger = mail("none", to="a@other.net", sender="b@other.net")
    s3.put_object(Bucket=lambda_world.bucket, Key="old/none.eml", Body=stranger)

    def invoke(key: str) -> dict[str, Any]:
        task: dict[str, Any] = {"taskId": f"task-{key}", "s3Key": key, "s3VersionId": None}
        job: dict[str, Any] = {"id": "job-1"}
        if version == "1.0":
            task["s3BucketArn"] = f"arn:aws:s3:::{lambda_world.bucket}"
        else:
            task["s3Bucket"] = lambda_world.bucket
            job["userArguments"] = {"recipients": "records@acme.com"}
        event = {"invocationSchemaVersion": version, "invocationId": "inv-1", "job": job, "tasks": [task]}
        answer = S3_APP.lambda_handler(event, FakeContext())
        assert answer["invocationSchemaVersion"] == version and answer["invocationId"] == "inv-1"
        (result,) = answer["results"]
        assert result["taskId"] == task["taskId"]
        return result

    assert invoke("old/one.eml")["resultCode"] == "Succeeded"
    assert invoke("old/missing.eml")["resultCode"] == "PermanentFailure"
    # with schema 2.0 the job's userArguments name a vault (-r), so the stranger mail is archived
    assert invoke("old/none.eml")["resultCode"] == ("Succeeded" if version == "2.0" else "PermanentFailure")
    emulator.add_faults([{"target": "uploads", "status": 503, "times": 5}])
    s3.put_object(Bucket=lambda_world.bucket, Key="old/later.eml", Body=mail("later"))
    assert invoke("old/later.eml")["resultCode"] == "TemporaryFailure"


def s3_notification(bucket: str, key: str, size: int) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": key, "size": size},
                },
            }
        ]
    }


def sns_events(world: LambdaWorld, publish: Any) -> list[dict[str, Any]]:
    url, arn = queue_for(world.sqs, "sns-events")
    world.sns.subscribe(TopicArn=world.topic, Protocol="sqs", Endpoint=arn)
    publish()
    return [sns_event(body, {}) for body in drain(world.sqs, url)]


def test_sns_formats_through_moto(lambda_world: LambdaWorld, emulator: Any) -> None:
    import base64

    lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key="in/s3.eml", Body=mail("by s3 envelope"))
    messages = [
        mail("raw").decode(),
        json.dumps({"mail": mail("envelope", to="x@other.net").decode(), "recipients": ["legal@acme.com"]}),
        json.dumps({"mailBase64": base64.b64encode(mail("b64")).decode()}),
        json.dumps({"s3": {"bucket": lambda_world.bucket, "key": "in/s3.eml"}}),
        json.dumps({"notificationType": "AMAZON_SES_SETUP_NOTIFICATION"}),
    ]

    def publish() -> None:
        for m in messages:
            lambda_world.sns.publish(TopicArn=lambda_world.topic, Message=m)

    events = sns_events(lambda_world, publish)
    assert len(events) == len(messages)
    results = [SNS_APP.lambda_handler(e, FakeContext()) for e in events]
    assert [r["results"][0]["status"] for r in results] == ["archived"] * 4 + ["skipped"]
    assert len(emulator.records()) == 4
    # nothing in the mail bucket was written by the uploader but tags (SNS jobs do not tag)
    assert tags(lambda_world, "in/s3.eml") == {}


def test_large_mail_via_sns_extended_client(lambda_world: LambdaWorld, emulator: Any) -> None:
    import sns_extended_client  # noqa: F401  (adds large-payload support to boto3's SNS client)

    data = mail("extended", attachment_bytes=600_000)

    def publish() -> None:
        sns = boto3.client("sns")
        sns.large_payload_support = lambda_world.bucket
        sns.s3_client = boto3.client("s3")
        sns.publish(TopicArn=lambda_world.topic, Message=data.decode())

    (event,) = sns_events(lambda_world, publish)
    assert "PayloadS3Pointer" in event["Records"][0]["Sns"]["Message"]
    SNS_APP.lambda_handler(event, FakeContext())
    (record,) = emulator.records()
    assert record["size"] == len(data)


def test_eventbridge_object_created(lambda_world: LambdaWorld, emulator: Any) -> None:
    """The same object event through EventBridge (for buckets the stack does not own)."""
    key = "external/Report + été.eml"
    put = lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key=key, Body=mail("via eventbridge"))
    event = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-20T09:30:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{lambda_world.bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": lambda_world.bucket},
            "object": {
                # raw, as S3 sends keys to EventBridge (ev-events.html), not URL-encoded
                "key": key,
                "size": 300,
                "etag": put["ETag"].strip('"'),
                "version-id": put.get("VersionId"),
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "PutObject",
        },
    }
    (result,) = S3_APP.lambda_handler(event, FakeContext())["results"]
    assert result["status"] == "archived", result
    assert tags(lambda_world, key)["vaultmail-status"] == "archived"
