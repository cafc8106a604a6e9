"""DLQ replay: destination records back to the function, with stubbed AWS clients (no sockets)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber

from vaultmail.cli import run
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


DLQ = Path(__file__).resolve().parent / "fixtures" / "dlq"
RECEIVE = {"QueueUrl": QUEUE, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1, "VisibilityTimeout": 60}


def _message(message_id: str, fixture: str) -> dict[str, str]:
    return {"MessageId": message_id, "ReceiptHandle": f"rh-{message_id}", "Body": (DLQ / fixture).read_text()}


def _stub_queue_with_a_dropped_payload(s: Stubber, lstub: Stubber) -> None:
    """First the record without its event, then a good one; the bad one comes back once (visibility)."""
    dropped, good = (
        _message("m-dropped", "payload-dropped.json"),
        _message("m-good", "destination-record.json"),
    )
    s.add_response("receive_message", {"Messages": [dropped, good]}, RECEIVE)
    lstub.add_response(
        "invoke", {"StatusCode": 202}, {"FunctionName": "fn", "InvocationType": "Event", "Payload": ANY}
    )
    s.add_response("delete_message", {}, {"QueueUrl": QUEUE, "ReceiptHandle": "rh-m-good"})
    s.add_response("receive_message", {"Messages": [dropped]}, RECEIVE)  # no delete: it stays
    s.add_response("receive_message", {"Messages": []}, RECEIVE)


def test_a_record_without_its_event_is_skipped_and_left_in_the_queue() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    lam = boto3.client("lambda", region_name="us-east-1")
    with Stubber(sqs) as s, Stubber(lam) as lstub:
        _stub_queue_with_a_dropped_payload(s, lstub)
        done = list(replay(sqs, lam, QUEUE, "fn"))
        s.assert_no_pending_responses()
        lstub.assert_no_pending_responses()
    assert [(d.message_id, d.invoked, bool(d.skipped)) for d in done] == [
        ("m-dropped", False, True),  # reported once, though received twice
        ("m-good", True, False),
    ]
    assert done[0].error == "slot request failed after 5 attempts (last: HTTP 503)"
    assert "requestPayload" in str(done[0].skipped)


def test_replay_command_lists_skipped_messages_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    lam = boto3.client("lambda", region_name="us-east-1")
    monkeypatch.setattr(boto3, "client", lambda service, **kw: {"sqs": sqs, "lambda": lam}[service])
    with Stubber(sqs) as s, Stubber(lam) as lstub:
        _stub_queue_with_a_dropped_payload(s, lstub)
        code = run(["replay", "--queue-url", QUEUE, "--function", "fn"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "skipped m-dropped, left in the queue" in out and "replayed m-good" in out
    assert "1 event(s) replayed" in out and "1 message(s) skipped" in err
