"""`vaultmail replay` on SQS's own redrive, against botocore's Stubber (no sockets).

The Stubber checks every request against the SQS service model (names, types, required
parameters), so these tests pin the real StartMessageMoveTask / ListMessageMoveTasks /
CancelMessageMoveTask calls that moto 5.2 cannot serve.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from vaultmail.cli import build_parser, run
from vaultmail.cli import replay as command
from vaultmail.errors import InvalidArguments, ReplayError
from vaultmail.replay import (
    MoveTask,
    Queue,
    SqsMover,
    cancel,
    inspect,
    replay,
    resolve_queue,
    stack_dead_letter_queues,
)

ACCOUNT = "123456789012"
DLQ_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/vaultmail-s3-dlq"
DLQ_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:vaultmail-s3-dlq"
SOURCE_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/vaultmail-s3"
SOURCE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:vaultmail-s3"
DLQ = Queue(url=DLQ_URL, arn=DLQ_ARN)
LIST = {"SourceArn": DLQ_ARN, "MaxResults": 10}


def sqs_client() -> Any:
    return boto3.client("sqs", region_name="us-east-1")


def entry(status: str, moved: int, to_move: int = 3, **extra: Any) -> dict[str, Any]:
    task = {"Status": status, "SourceArn": DLQ_ARN, "ApproximateNumberOfMessagesMoved": moved,
            "ApproximateNumberOfMessagesToMove": to_move, "StartedTimestamp": 1_796_000_000_000}
    if status == "RUNNING":
        task["TaskHandle"] = "handle-1"
    return {**task, **extra}


def stub_move(
    s: Stubber, *states: dict[str, Any], max_per_second: int | None = None, destination: str | None = None
) -> None:
    """No task running, a start, then one list answer per poll."""
    s.add_response("list_message_move_tasks", {"Results": [entry("COMPLETED", 5, 5)]}, LIST)
    start = {"SourceArn": DLQ_ARN}
    if destination is not None:
        start["DestinationArn"] = destination
    if max_per_second is not None:
        start["MaxNumberOfMessagesPerSecond"] = max_per_second  # type: ignore[assignment]
    s.add_response("start_message_move_task", {"TaskHandle": "handle-1"}, start)
    for state in states:
        s.add_response("list_message_move_tasks", {"Results": [state, entry("COMPLETED", 5, 5)]}, LIST)


def test_a_move_task_is_started_on_the_dlq_and_polled_to_the_end() -> None:
    sqs, naps = sqs_client(), []
    with Stubber(sqs) as s:
        stub_move(s, entry("RUNNING", 0), entry("RUNNING", 2), entry("COMPLETED", 3))
        states = list(replay(SqsMover(sqs), DLQ, poll_seconds=1.5, sleep=naps.append))
        s.assert_no_pending_responses()
    assert [(t.status, t.moved, t.to_move) for t in states] == [
        ("RUNNING", 0, 3), ("RUNNING", 2, 3), ("COMPLETED", 3, 3)
    ]
    assert states[0].handle == "handle-1" and states[-1].handle is None
    assert naps == [1.5, 1.5]  # a poll between states, none after the end


def test_the_rate_is_passed_as_the_models_integer() -> None:
    sqs = sqs_client()
    with Stubber(sqs) as s:
        stub_move(s, entry("COMPLETED", 3), max_per_second=50)
        (done,) = replay(SqsMover(sqs), DLQ, max_per_second=50, sleep=lambda _: None)
    assert done.finished
    with pytest.raises(InvalidArguments):
        list(replay(SqsMover(sqs), DLQ, max_per_second=501))


def test_a_failed_task_ends_the_replay_with_its_reason() -> None:
    sqs = sqs_client()
    with Stubber(sqs) as s:
        stub_move(s, entry("FAILED", 1, FailureReason="AWS.SimpleQueueService.NonExistentQueue"))
        (failed,) = replay(SqsMover(sqs), DLQ, sleep=lambda _: None)
    assert (failed.status, failed.moved, failed.failure) == (
        "FAILED", 1, "AWS.SimpleQueueService.NonExistentQueue"
    )


def test_a_running_task_is_not_doubled() -> None:
    sqs = sqs_client()
    with Stubber(sqs) as s:  # no start_message_move_task stubbed: calling it would fail the test
        s.add_response("list_message_move_tasks", {"Results": [entry("RUNNING", 1)]}, LIST)
        with pytest.raises(ReplayError, match="already running"):
            list(replay(SqsMover(sqs), DLQ))


def test_cancel_takes_the_running_tasks_handle() -> None:
    sqs = sqs_client()
    with Stubber(sqs) as s:
        s.add_response("list_message_move_tasks", {"Results": [entry("RUNNING", 1)]}, LIST)
        s.add_response("cancel_message_move_task", {"ApproximateNumberOfMessagesMoved": 1},
                       {"TaskHandle": "handle-1"})
        s.add_response("list_message_move_tasks", {"Results": [entry("CANCELLING", 1)]}, LIST)
        task = cancel(SqsMover(sqs), DLQ)
        s.add_response("list_message_move_tasks", {"Results": [entry("CANCELLED", 1)]}, LIST)
        assert cancel(SqsMover(sqs), DLQ) is None  # nothing running any more
    assert task is not None and task.status == "CANCELLING"


def test_a_queue_by_url_name_or_arn() -> None:
    sqs = sqs_client()
    arn_attr = ({"Attributes": {"QueueArn": DLQ_ARN}}, {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]})
    with Stubber(sqs) as s:
        s.add_response("get_queue_attributes", *arn_attr)
        assert resolve_queue(sqs, DLQ_URL) == DLQ
        s.add_response("get_queue_url", {"QueueUrl": DLQ_URL}, {"QueueName": "vaultmail-s3-dlq"})
        s.add_response("get_queue_attributes", *arn_attr)
        assert resolve_queue(sqs, "vaultmail-s3-dlq") == DLQ
        s.add_response("get_queue_url", {"QueueUrl": DLQ_URL},
                       {"QueueName": "vaultmail-s3-dlq", "QueueOwnerAWSAccountId": ACCOUNT})
        s.add_response("get_queue_attributes", *arn_attr)
        assert resolve_queue(sqs, DLQ_ARN) == DLQ
        s.add_client_error("get_queue_url", "AWS.SimpleQueueService.NonExistentQueue", "no such queue")
        with pytest.raises(InvalidArguments):  # exit 3, like an unreadable file
            resolve_queue(sqs, "nope")
    with pytest.raises(InvalidArguments):
        resolve_queue(sqs, "arn:aws:sns:us-east-1:123456789012:topic")
    assert DLQ.name == "vaultmail-s3-dlq"


def stub_backlog(s: Stubber, *, visible: int = 3) -> None:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    counts = {"Attributes": dict(zip(names, [str(visible), "1"], strict=True))}
    s.add_response("get_queue_attributes", counts, {"QueueUrl": DLQ_URL, "AttributeNames": names})


def stub_sources(s: Stubber, sources: list[str]) -> None:
    s.add_response("list_dead_letter_source_queues", {"queueUrls": sources},
                   {"QueueUrl": DLQ_URL, "MaxResults": 1000})


def test_a_dry_run_only_reads_and_peeks_without_hiding() -> None:
    sqs = sqs_client()
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "x" * 42,
               "Attributes": {"SentTimestamp": "1796000000000", "ApproximateReceiveCount": "4"}}
    with Stubber(sqs) as s:  # only these calls: no delete, no visibility change, no move
        stub_backlog(s)
        s.add_response("receive_message", {"Messages": [message]}, {
            "QueueUrl": DLQ_URL, "MaxNumberOfMessages": 2, "VisibilityTimeout": 0, "WaitTimeSeconds": 0,
            "MessageSystemAttributeNames": ["SentTimestamp", "ApproximateReceiveCount",
                                            "DeadLetterQueueSourceArn"]})
        stub_sources(s, [SOURCE_URL])
        backlog = inspect(sqs, DLQ, peek=2)
        s.assert_no_pending_responses()
    assert (backlog.visible, backlog.in_flight, backlog.sources) == (3, 1, (SOURCE_URL,))
    (peeked,) = backlog.peeked
    assert (peeked.message_id, peeked.receives, peeked.body_bytes) == ("m1", 4, 42)
    assert peeked.sent == 1796000000000


def test_the_dead_letter_queues_of_a_stack() -> None:
    sqs, cfn = sqs_client(), boto3.client("cloudformation", region_name="us-east-1")
    summary = {"LastUpdatedTimestamp": "2026-12-01T00:00:00Z", "ResourceStatus": "CREATE_COMPLETE"}
    resources = [
        {"LogicalResourceId": "S3UploaderQueue", "PhysicalResourceId": SOURCE_URL,
         "ResourceType": "AWS::SQS::Queue", **summary},
        {"LogicalResourceId": "S3UploaderDlq", "PhysicalResourceId": DLQ_URL,
         "ResourceType": "AWS::SQS::Queue", **summary},
        {"LogicalResourceId": "Topic", "PhysicalResourceId": "arn:aws:sns:us-east-1:1:t",
         "ResourceType": "AWS::SNS::Topic", **summary},
    ]
    with Stubber(sqs) as s, Stubber(cfn) as c:
        c.add_response("list_stack_resources", {"StackResourceSummaries": resources},
                       {"StackName": "vaultmail"})
        s.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN[:-4]}},
                       {"QueueUrl": SOURCE_URL, "AttributeNames": ["QueueArn"]})
        s.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}},
                       {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]})
        s.add_response("list_dead_letter_source_queues", {"queueUrls": []},
                       {"QueueUrl": SOURCE_URL, "MaxResults": 1000})
        stub_sources(s, [SOURCE_URL])
        assert stack_dead_letter_queues(cfn, sqs, "vaultmail") == [DLQ]


# -- the command -------------------------------------------------------------------------------


def parse(*argv: str) -> Any:
    return build_parser().parse_args(["replay", *argv])


def test_the_command_dry_run_reports_counts_and_sources() -> None:
    sqs, out = sqs_client(), io.StringIO()
    with Stubber(sqs) as s:
        s.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}},
                       {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]})
        stub_backlog(s, visible=7)
        stub_sources(s, [SOURCE_URL])
        args = parse("--queue-url", DLQ_URL, "--dry-run")
        code = command.execute(args, sqs=sqs, mover=SqsMover(sqs), out=out)
    text = out.getvalue()
    assert code == 0
    assert "7 message(s) visible, 1 in flight" in text and SOURCE_URL in text
    assert "dry run: nothing moved; 7 message(s) would move back" in text


@pytest.mark.parametrize(("final", "code"), [
    (entry("COMPLETED", 3), 0),
    (entry("FAILED", 1, FailureReason="KMS"), 1),
], ids=["completed", "failed"])
def test_the_command_moves_and_exits_0_or_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], final: dict[str, Any], code: int
) -> None:
    sqs = sqs_client()
    monkeypatch.setattr(boto3, "client", lambda service, **kw: sqs)
    with Stubber(sqs) as s:
        s.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}},
                       {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]})
        stub_backlog(s)
        stub_sources(s, [SOURCE_URL])
        # one source queue: named as DestinationArn (SNS or EventBridge may have put messages
        # there directly, which SQS moves without a DestinationArn only to where they came from)
        s.add_response("get_queue_attributes", {"Attributes": {"QueueArn": SOURCE_ARN}},
                       {"QueueUrl": SOURCE_URL, "AttributeNames": ["QueueArn"]})
        stub_move(s, entry("RUNNING", 1), final, destination=SOURCE_ARN)
        assert run(["replay", "--queue", DLQ_URL, "--poll", "0"]) == code
        s.assert_no_pending_responses()
    out, err = capsys.readouterr()
    assert "vaultmail-s3-dlq: RUNNING 1/3 moved" in out
    if code == 0:
        assert f"3 message(s) moved back to {SOURCE_URL}" in out
    else:
        assert "move task FAILED: KMS" in err


def test_the_command_refuses_a_queue_that_is_no_dlq() -> None:
    sqs = sqs_client()
    with Stubber(sqs) as s:
        s.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}},
                       {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]})
        stub_backlog(s)
        stub_sources(s, [])
        with pytest.raises(InvalidArguments, match="no queue's dead-letter queue"):
            command.execute(parse("--queue", DLQ_URL), sqs=sqs, mover=SqsMover(sqs), out=io.StringIO())


def test_flags_are_checked() -> None:
    with pytest.raises(SystemExit) as exited:  # a queue or a stack is required
        run(["replay", "--dry-run"])
    assert exited.value.code == 3
    with pytest.raises(InvalidArguments):
        command.execute(parse("--queue", DLQ_URL, "--peek", "3"), sqs=None, mover=SqsMover(None))


def test_move_task_entries_read_the_model_fields() -> None:
    task = MoveTask.from_api(entry("RUNNING", 2, 9, MaxNumberOfMessagesPerSecond=10))
    assert (task.status, task.moved, task.to_move, task.max_per_second, task.handle) == (
        "RUNNING", 2, 9, 10, "handle-1"
    )
    assert not task.finished and MoveTask.from_api(entry("CANCELLED", 2)).finished


def test_the_command_finds_a_stacks_queues_and_cancels_their_task() -> None:
    sqs, cfn, out = sqs_client(), boto3.client("cloudformation", region_name="us-east-1"), io.StringIO()
    summary = {"LastUpdatedTimestamp": "2026-12-01T00:00:00Z", "ResourceStatus": "CREATE_COMPLETE",
               "ResourceType": "AWS::SQS::Queue"}
    with Stubber(sqs) as s, Stubber(cfn) as c:
        c.add_response("list_stack_resources", {"StackResourceSummaries": [
            {"LogicalResourceId": "S3UploaderDlq", "PhysicalResourceId": DLQ_URL, **summary}]},
            {"StackName": "vaultmail"})
        s.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}},
                       {"QueueUrl": DLQ_URL, "AttributeNames": ["QueueArn"]})
        stub_sources(s, [SOURCE_URL])
        s.add_response("list_message_move_tasks", {"Results": [entry("RUNNING", 2)]}, LIST)
        s.add_response("cancel_message_move_task", {"ApproximateNumberOfMessagesMoved": 2},
                       {"TaskHandle": "handle-1"})
        s.add_response("list_message_move_tasks", {"Results": [entry("CANCELLED", 2)]}, LIST)
        args = parse("--stack", "vaultmail", "--cancel", "--json")
        assert command.execute(args, sqs=sqs, mover=SqsMover(sqs), cloudformation=lambda: cfn, out=out) == 0
        s.assert_no_pending_responses()
    (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
    assert (line["queue"], line["status"], line["moved"]) == (DLQ_URL, "CANCELLED", 2)
