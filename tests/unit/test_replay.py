"""DLQ replay: destination records back to the function, with stubbed AWS clients (no sockets)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from vaultmail.errors import InvalidEvent
from vaultmail.replay import payload_of, replay

EVENT = {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}
RECORD = {
    "version": "1.0",
    "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
    "requestPayload": EVENT,
    "responsePayload": {"errorType": "UploadFailed", "errorMessage": "503"},
}
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"


def test_payload_of_destination_record_and_bare_event() -> None:
    assert payload_of(json.dumps(RECORD)) == EVENT
    assert payload_of(json.dumps(EVENT)) == EVENT
    with pytest.raises(InvalidEvent):
        payload_of("not json")
    with pytest.raises(InvalidEvent):
        payload_of(json.dumps({"something": "else"}))


def test_replay_invokes_asynchronously_then_deletes() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    lam = boto3.client("lambda", region_name="us-east-1")
    with Stubber(sqs) as s, Stubber(lam) as lstub:
        s.add_response(
            "receive_message",
            {"Messages": [{"MessageId": "m1", "ReceiptHandle": "r1", "Body": json.dumps(RECORD)}]},
            {"QueueUrl": QUEUE, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1, "VisibilityTimeout": 60},
        )
        lstub.add_response(
            "invoke", {"StatusCode": 202}, {"FunctionName": "fn", "InvocationType": "Event", "Payload": ANY}
        )
        s.add_response("delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": "r1"})
        s.add_response(
            "receive_message",
            {"Messages": []},
            {"QueueUrl": QUEUE, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1, "VisibilityTimeout": 60},
        )
        done = list(replay(sqs, lam, QUEUE, "fn"))
    assert [(d.message_id, d.condition, d.error, d.invoked) for d in done] == [
        ("m1", "RetriesExhausted", "503", True)
    ]


def test_dry_run_changes_nothing() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    lam = boto3.client("lambda", region_name="us-east-1")
    with Stubber(sqs) as s, Stubber(lam):
        s.add_response(
            "receive_message",
            {"Messages": [{"MessageId": "m1", "ReceiptHandle": "r1", "Body": json.dumps(RECORD)}]},
            {"QueueUrl": QUEUE, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1, "VisibilityTimeout": 60},
        )
        done = list(replay(sqs, lam, QUEUE, "fn", dry_run=True))
    assert len(done) == 1 and not done[0].invoked
