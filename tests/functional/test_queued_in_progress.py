"""The same mail delivered again while its first invocation is still archiving it (SQS delivers
at least once, S3 notifies at least once: "Amazon SQS at-least-once delivery",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html).

Powertools Idempotency finds the first invocation's INPROGRESS record and raises
IdempotencyAlreadyInProgressError ("Idempotency", Powertools for AWS Lambda (Python)); the
second message is then a batch item failure, delayed by the backoff, and uploads nothing: the
mail is stored once."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3

from vaultmail import backoff
from vaultmail_dev.mails import mail

from .lambdas import FakeContext, LambdaWorld, load_handler
from .test_uploaders_queued import batches, bucket_queue, invisible_for

S3_APP = load_handler("s3_uploader")


def test_a_mail_delivered_again_while_it_is_being_archived_is_retried_not_uploaded(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    w = lambda_world
    url, arn = bucket_queue(w)
    w.s3.put_object(Bucket=w.bucket, Key="inbox/twice.eml", Body=mail("twice"))
    received = [r for e in batches(w, url, arn) for r in e["Records"]]
    (record,) = [r for r in received if "TestEvent" not in r["body"]]  # S3's (moto's) test event aside
    event = {"Records": [record]}
    w.sqs.send_message(QueueUrl=url, MessageBody=record["body"])  # the duplicate notification
    (again,) = batches(w, url, arn)
    emulator.add_faults([{"target": "uploads", "action": "delay", "seconds": 3, "times": 1}])
    answers: dict[str, Any] = {}
    first = threading.Thread(target=lambda: answers.update(first=S3_APP.lambda_handler(event, FakeContext())))
    first.start()
    ddb, deadline = boto3.client("dynamodb"), time.monotonic() + 30
    while not any(i["status"]["S"] == "INPROGRESS" for i in ddb.scan(TableName=w.table)["Items"]):
        assert time.monotonic() < deadline, "the first invocation never started"
        time.sleep(0.05)
    second = S3_APP.lambda_handler(again, FakeContext())
    first.join()
    assert second == {"batchItemFailures": [{"itemIdentifier": again["Records"][0]["messageId"]}]}
    assert answers["first"] == {"batchItemFailures": []}
    # the first message waits the queue's 5,400 s (the event source deletes it); the second its backoff
    waiting = min(invisible_for("s3-uploader-queue"))
    assert 0 < waiting <= backoff.delay(1, jitter=0.999)
    (stored,) = emulator.records()
    assert stored["stores"] == 1 and stored["requests"] == 1  # the second one never asked for a slot
    # its retry finds the outcome stored: acknowledged, nothing uploaded
    assert S3_APP.lambda_handler(again, FakeContext()) == {"batchItemFailures": []}
    assert [r["stores"] for r in emulator.records()] == [1]
