"""Replay a dead-letter queue with SQS's own redrive: a message move task back to the source.

The uploaders' queues have a redrive policy: a message received ``maxReceiveCount`` times
without success moves, as it was (body and message attributes), to the queue's dead-letter
queue. After fixing the cause (API outage, key, settings), an operator moves the messages
back with ``StartMessageMoveTask``: SourceArn is the dead-letter queue. A dead-letter queue
with one source queue (every queue of this stack) names it as DestinationArn: the messages
that SNS or EventBridge put there directly (their own redrive, on a failed delivery) never
came from a source queue, and SQS moves a message without a DestinationArn only back to the
queue it was redriven from. With several sources, DestinationArn is left out.
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
The uploaders are idempotent, so a message that did succeed meanwhile uploads nothing again.

I/O goes through clients given as arguments: the SQS client for the queue's facts (and the
CloudFormation client to find a stack's queues), and a ``Mover`` for the move task itself.
``SqsMover`` is the real API. moto has no message move tasks, so the local stack passes its
own mover (``vaultmail_dev.redrive.LocalMover``, same semantics on moto's primitives); there
is no fallback from one to the other here.

A dry run changes nothing: it reads the queue's attributes and its redrive sources, and may
peek at a few messages with VisibilityTimeout 0, so that none becomes invisible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .errors import InvalidArguments, ReplayError

# ListMessageMoveTasks statuses (API_ListMessageMoveTasksResultEntry)
RUNNING = "RUNNING"
FINISHED = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
MAX_PER_SECOND = 500  # StartMessageMoveTask's MaxNumberOfMessagesPerSecond is at most 500
# DeadLetterQueueSourceArn: the queue a dead-lettered message came from (API_ReceiveMessage,
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html)
PEEK_ATTRIBUTES = ["SentTimestamp", "ApproximateReceiveCount", "DeadLetterQueueSourceArn"]


@dataclass(frozen=True)
class Queue:
    url: str
    arn: str

    @property
    def name(self) -> str:
        return self.arn.rpartition(":")[2]


@dataclass(frozen=True)
class MoveTask:
    """One entry of ListMessageMoveTasks."""

    status: str
    moved: int
    to_move: int | None
    source_arn: str
    handle: str | None = None  # only while RUNNING
    failure: str | None = None
    max_per_second: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_api(cls, entry: dict[str, Any]) -> MoveTask:
        return cls(
            status=str(entry.get("Status", "")),
            moved=int(entry.get("ApproximateNumberOfMessagesMoved") or 0),
            to_move=_int_or_none(entry.get("ApproximateNumberOfMessagesToMove")),
            source_arn=str(entry.get("SourceArn", "")),
            handle=entry.get("TaskHandle"),
            failure=entry.get("FailureReason"),
            max_per_second=_int_or_none(entry.get("MaxNumberOfMessagesPerSecond")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "moved": self.moved,
            "toMove": self.to_move,
            "sourceArn": self.source_arn,
            "failure": self.failure,
        }


class Mover(Protocol):
    """Message move tasks (StartMessageMoveTask, ListMessageMoveTasks, CancelMessageMoveTask)."""

    def start(
        self, source_arn: str, *, destination_arn: str | None = None, max_per_second: int | None = None
    ) -> str:
        """Start moving the messages of the dead-letter queue back to ``destination_arn`` (None:
        each to the queue it was redriven from); the task handle."""
        ...

    def tasks(self, source_arn: str) -> list[MoveTask]:
        """The most recent tasks of the queue (up to 10), newest first."""
        ...

    def cancel(self, handle: str) -> int:
        """Cancel a RUNNING task; the number of messages moved so far."""
        ...


class SqsMover:
    """The real API (moto 5.2 does not implement it: see vaultmail_dev.redrive)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs

    def start(
        self, source_arn: str, *, destination_arn: str | None = None, max_per_second: int | None = None
    ) -> str:
        params: dict[str, Any] = {"SourceArn": source_arn}
        if destination_arn is not None:
            params["DestinationArn"] = destination_arn
        if max_per_second is not None:
            params["MaxNumberOfMessagesPerSecond"] = max_per_second
        return str(_call(self.sqs.start_message_move_task, **params)["TaskHandle"])

    def tasks(self, source_arn: str) -> list[MoveTask]:
        answer = _call(self.sqs.list_message_move_tasks, SourceArn=source_arn, MaxResults=10)
        return [MoveTask.from_api(entry) for entry in answer.get("Results", [])]

    def cancel(self, handle: str) -> int:
        answer = _call(self.sqs.cancel_message_move_task, TaskHandle=handle)
        return int(answer.get("ApproximateNumberOfMessagesMoved") or 0)


# -- which queue ------------------------------------------------------------------------------


def resolve_queue(sqs: Any, ref: str) -> Queue:
    """A queue given by URL, name or ARN (``arn:aws:sqs:region:account:name``)."""
    ref = ref.strip()
    if not ref:
        raise InvalidArguments("no queue given")
    if ref.startswith(("https://", "http://")):
        url = ref
    elif ref.startswith("arn:"):
        parts = ref.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise InvalidArguments(f"not an SQS queue ARN: {ref}")
        url = _call(sqs.get_queue_url, QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
    else:
        url = _call(sqs.get_queue_url, QueueName=ref)["QueueUrl"]
    attributes = _call(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return Queue(url=str(url), arn=str(attributes["QueueArn"]))


def destination_of(sqs: Any, backlog: Backlog) -> str | None:
    """The DestinationArn of a move task: the one source queue, or None with several."""
    if len(backlog.sources) != 1:
        return None
    return resolve_queue(sqs, backlog.sources[0]).arn


def source_queues(sqs: Any, queue: Queue) -> list[str]:
    """URLs of the queues whose redrive policy targets ``queue`` (ListDeadLetterSourceQueues)."""
    urls: list[str] = []
    params: dict[str, Any] = {"QueueUrl": queue.url, "MaxResults": 1000}
    while True:
        page = _call(sqs.list_dead_letter_source_queues, **params)
        urls.extend(page.get("queueUrls", []))
        if not page.get("NextToken"):
            return urls
        params["NextToken"] = page["NextToken"]


def stack_dead_letter_queues(cloudformation: Any, sqs: Any, stack: str) -> list[Queue]:
    """The queues of a CloudFormation stack that are some queue's dead-letter queue."""
    urls: list[str] = []
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
            urls.extend(
                r["PhysicalResourceId"]
                for r in page.get("StackResourceSummaries", [])
                if r.get("ResourceType") == "AWS::SQS::Queue" and r.get("PhysicalResourceId")
            )
    except (ClientError, BotoCoreError) as exc:
        raise ReplayError(f"stack {stack}: {exc}") from exc
    queues = [resolve_queue(sqs, url) for url in sorted(urls)]
    return [queue for queue in queues if source_queues(sqs, queue)]


# -- a dry run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peeked:
    """What a dry run shows of one message: never its body (a mail, or what points to one)."""

    message_id: str
    sent: int | None  # epoch milliseconds
    receives: int | None
    source_arn: str | None
    body_bytes: int


@dataclass(frozen=True)
class Backlog:
    queue: Queue
    visible: int  # ApproximateNumberOfMessages: what a move task would move now
    in_flight: int  # ApproximateNumberOfMessagesNotVisible
    sources: tuple[str, ...]
    peeked: tuple[Peeked, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue.url,
            "visible": self.visible,
            "inFlight": self.in_flight,
            "sources": list(self.sources),
            "peeked": [
                {"messageId": p.message_id, "sent": p.sent, "receives": p.receives,
                 "sourceArn": p.source_arn, "bodyBytes": p.body_bytes}
                for p in self.peeked
            ],
        }


def inspect(sqs: Any, queue: Queue, *, peek: int = 0) -> Backlog:
    """Counts and redrive sources of a dead-letter queue, and up to ``peek`` (<= 10) messages
    received with VisibilityTimeout 0: each stays visible (only its receive count grows)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = _call(sqs.get_queue_attributes, QueueUrl=queue.url, AttributeNames=names)["Attributes"]
    peeked: list[Peeked] = []
    if peek > 0:
        answer = _call(
            sqs.receive_message,
            QueueUrl=queue.url,
            MaxNumberOfMessages=min(peek, 10),
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=PEEK_ATTRIBUTES,
        )
        peeked = [_peeked(message) for message in answer.get("Messages", [])]
    return Backlog(
        queue=queue,
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        sources=tuple(source_queues(sqs, queue)),
        peeked=tuple(peeked),
    )


def _peeked(message: dict[str, Any]) -> Peeked:
    attributes = message.get("Attributes", {})
    return Peeked(
        message_id=str(message["MessageId"]),
        sent=_int_or_none(attributes.get("SentTimestamp")),
        receives=_int_or_none(attributes.get("ApproximateReceiveCount")),
        source_arn=attributes.get("DeadLetterQueueSourceArn"),
        body_bytes=len(str(message.get("Body", "")).encode()),
    )


# -- the move --------------------------------------------------------------------------------


def running_task(mover: Mover, queue: Queue) -> MoveTask | None:
    return next((task for task in mover.tasks(queue.arn) if task.status == RUNNING), None)


def replay(
    mover: Mover,
    queue: Queue,
    *,
    destination_arn: str | None = None,
    max_per_second: int | None = None,
    poll_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[MoveTask]:
    """Start a move task from the dead-letter queue back to its sources, then yield the task's
    state at each poll until it has finished (COMPLETED, CANCELLED or FAILED).

    Only one task may run per queue: a running one is an error (wait for it, or cancel it).
    """
    if max_per_second is not None and not 1 <= max_per_second <= MAX_PER_SECOND:
        raise InvalidArguments(f"--max-per-second must be 1 to {MAX_PER_SECOND}")
    busy = running_task(mover, queue)
    if busy is not None:
        raise ReplayError(
            f"{queue.name}: a move task is already running ({busy.moved} of {busy.to_move} moved); "
            "wait for it, or cancel it with --cancel"
        )
    handle = mover.start(queue.arn, destination_arn=destination_arn, max_per_second=max_per_second)
    while True:
        task = _latest(mover, queue, handle)
        yield task
        if task.finished:
            return
        sleep(poll_seconds)


def cancel(mover: Mover, queue: Queue) -> MoveTask | None:
    """Cancel the running move task of the queue, if any; its state after the request."""
    task = running_task(mover, queue)
    if task is None or task.handle is None:
        return None
    mover.cancel(task.handle)
    return _latest(mover, queue, task.handle)


def _latest(mover: Mover, queue: Queue, handle: str) -> MoveTask:
    """Our task: the newest of the queue (one task at a time; a finished one has no handle)."""
    tasks = mover.tasks(queue.arn)
    if not tasks:
        raise ReplayError(f"{queue.name}: the move task {handle} is not listed")
    return tasks[0]


def _call(method: Callable[..., Any], **params: Any) -> Any:
    try:
        return method(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = f"{exc.operation_name}: {code}: {error.get('Message', '')}"
        if "NonExistentQueue" in code or "QueueDoesNotExist" in code:  # a wrong name, URL or ARN
            raise InvalidArguments(message) from exc
        raise ReplayError(message) from exc
    except BotoCoreError as exc:
        raise ReplayError(f"SQS: {exc}") from exc


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)
