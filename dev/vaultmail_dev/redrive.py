"""SQS message move tasks for the local stack: moto 5.2 does not implement StartMessageMoveTask,
ListMessageMoveTasks or CancelMessageMoveTask, so ``LocalMover`` does what they do with the
primitives moto has (development and tests only; ``vaultmail.replay.SqsMover`` is the real API).

The semantics kept from AWS
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasks.html):

* the source must be a dead-letter queue of other SQS queues; without a destination each
  message goes back to the queue it came from (its ``DeadLetterQueueSourceArn`` system
  attribute, API_ReceiveMessage, which moto does not set, else the DLQ's only redrive
  source: several sources without that attribute make the task FAILED, not a guess);
* the task runs asynchronously: ``start`` returns a handle, the number to move is the queue's
  ApproximateNumberOfMessages at the start, messages move at most ``max_per_second``;
* one active task per queue; ``tasks`` lists the 10 most recent, newest first, the handle
  only on a RUNNING task; only a RUNNING task can be cancelled (CANCELLING, then CANCELLED);
* a message moves as receive, send (same body, same message attributes) to the source, then
  delete from the DLQ: a failure between the send and the delete can move it twice, which
  the uploaders' idempotency absorbs (AWS documents no exactly-once for the move either).

``python -m vaultmail_dev.redrive ...`` is ``vaultmail replay ...`` with this mover, for a
shell against moto (``AWS_ENDPOINT_URL`` set).
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vaultmail.errors import ReplayError
from vaultmail.replay import MAX_PER_SECOND, RUNNING, MoveTask, Queue, resolve_queue, source_queues

SOURCE_ATTRIBUTE = "DeadLetterQueueSourceArn"


@dataclass
class _Task:
    handle: str
    dlq: Queue
    max_per_second: int | None
    to_move: int
    destination: str | None = None  # DestinationArn's queue URL; None: each to where it came from
    status: str = RUNNING
    moved: int = 0
    failure: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def view(self) -> MoveTask:
        return MoveTask(
            status=self.status,
            moved=self.moved,
            to_move=self.to_move,
            source_arn=self.dlq.arn,
            handle=self.handle if self.status == RUNNING else None,
            failure=self.failure,
            max_per_second=self.max_per_second,
        )


class LocalMover:
    """The ``vaultmail.replay.Mover`` of the local stack, on moto's SQS (a thread per task)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self._lock = threading.Lock()
        self._tasks: list[_Task] = []  # oldest first

    def start(
        self, source_arn: str, *, destination_arn: str | None = None, max_per_second: int | None = None
    ) -> str:
        dlq = resolve_queue(self.sqs, source_arn)
        destination = resolve_queue(self.sqs, destination_arn).url if destination_arn else None
        if max_per_second is not None and not 1 <= max_per_second <= MAX_PER_SECOND:
            raise ReplayError(f"InvalidParameterValue: MaxNumberOfMessagesPerSecond is 1 to {MAX_PER_SECOND}")
        if not source_queues(self.sqs, dlq):
            raise ReplayError(f"InvalidParameterValue: {dlq.name} is no SQS queue's dead-letter queue")
        names = ["ApproximateNumberOfMessages"]
        count = self.sqs.get_queue_attributes(QueueUrl=dlq.url, AttributeNames=names)
        with self._lock:
            if any(t.dlq.arn == dlq.arn and t.status == RUNNING for t in self._tasks):
                raise ReplayError(f"UnsupportedOperation: a move task is already running on {dlq.name}")
            task = _Task(
                handle=str(uuid.uuid4()),
                dlq=dlq,
                max_per_second=max_per_second,
                to_move=int(count["Attributes"]["ApproximateNumberOfMessages"]),
                destination=destination,
            )
            self._tasks.append(task)
        task.thread = threading.Thread(target=self._run, args=(task,), name="redrive", daemon=True)
        task.thread.start()
        return task.handle

    def tasks(self, source_arn: str) -> list[MoveTask]:
        with self._lock:
            mine = [t.view() for t in self._tasks if t.dlq.arn == source_arn]
        return list(reversed(mine))[:10]

    def cancel(self, handle: str) -> int:
        with self._lock:
            task = next((t for t in self._tasks if t.handle == handle), None)
            if task is None or task.status != RUNNING:
                raise ReplayError("ResourceNotFoundException: no running move task with this handle")
            task.status = "CANCELLING"
            task.cancel.set()
            return task.moved

    def wait(self, timeout: float | None = None) -> None:
        """Join every task's thread (tests, the stack's shutdown)."""
        for task in list(self._tasks):
            if task.thread is not None:
                task.thread.join(timeout)

    # -- the task's thread

    def _run(self, task: _Task) -> None:
        try:
            self._move(task)
        except Exception as exc:  # the task fails like AWS's: a status and a reason, no traceback
            self._finish(task, "FAILED", f"{type(exc).__name__}: {exc}")

    def _move(self, task: _Task) -> None:
        by_arn = {resolve_queue(self.sqs, url).arn: url for url in source_queues(self.sqs, task.dlq)}
        interval = 1.0 / task.max_per_second if task.max_per_second else 0.0
        while task.moved < task.to_move:
            if task.cancel.is_set():
                return self._finish(task, "CANCELLED")
            answer = self.sqs.receive_message(
                QueueUrl=task.dlq.url,
                MaxNumberOfMessages=min(10, task.to_move - task.moved),
                VisibilityTimeout=30,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=[SOURCE_ATTRIBUTE],
            )
            messages = answer.get("Messages", [])
            if not messages:
                break  # fewer than counted at the start (another consumer, retention)
            for index, message in enumerate(messages):
                if task.cancel.is_set():
                    self._release(task, messages[index:])
                    return self._finish(task, "CANCELLED")
                target = task.destination or _destination(message, by_arn)
                if target is None:
                    self._release(task, messages[index:])
                    return self._finish(task, "FAILED", "the source queue of a message cannot be told")
                params: dict[str, Any] = {"QueueUrl": target, "MessageBody": message["Body"]}
                if message.get("MessageAttributes"):
                    params["MessageAttributes"] = _attributes(message["MessageAttributes"])
                self.sqs.send_message(**params)
                self.sqs.delete_message(QueueUrl=task.dlq.url, ReceiptHandle=message["ReceiptHandle"])
                with self._lock:
                    task.moved += 1
                if interval:
                    time.sleep(interval)
        self._finish(task, "CANCELLED" if task.cancel.is_set() else "COMPLETED")

    def _release(self, task: _Task, messages: list[dict[str, Any]]) -> None:
        """Received but not moved: visible again now, not after the visibility timeout."""
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=task.dlq.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def _finish(self, task: _Task, status: str, failure: str | None = None) -> None:
        with self._lock:
            task.status, task.failure = status, failure


def _destination(message: dict[str, Any], by_arn: dict[str, str]) -> str | None:
    arn = message.get("Attributes", {}).get(SOURCE_ATTRIBUTE)
    if arn:
        return by_arn.get(arn)
    return next(iter(by_arn.values())) if len(by_arn) == 1 else None


def _attributes(received: dict[str, Any]) -> dict[str, Any]:
    """Message attributes as SendMessage takes them (ReceiveMessage adds list fields)."""
    out: dict[str, Any] = {}
    for name, value in received.items():
        kept = {k: value[k] for k in ("DataType", "StringValue", "BinaryValue") if k in value}
        out[name] = kept
    return out


def redrive(
    sqs: Any, queue: str, *, max_per_second: int | None = None, poll_seconds: float = 0.05
) -> MoveTask:
    """Replay one dead-letter queue (URL, name or ARN) on the local stack, to the end: what
    ``vaultmail replay --queue QUEUE`` does on AWS. Returns the finished task (its ``moved``)."""
    from vaultmail.replay import destination_of, inspect, replay

    mover = LocalMover(sqs)
    dlq = resolve_queue(sqs, queue)
    destination = destination_of(sqs, inspect(sqs, dlq))  # as `vaultmail replay` names it
    moves = replay(
        mover, dlq, destination_arn=destination, max_per_second=max_per_second, poll_seconds=poll_seconds
    )
    states = list(moves)
    return states[-1]


def main(argv: Sequence[str] | None = None) -> int:
    """``vaultmail replay`` with ``LocalMover`` (moto), e.g. ``python -m vaultmail_dev.redrive --queue Q``."""
    import argparse

    import boto3

    from vaultmail.cli import ArgumentParser
    from vaultmail.cli import replay as command
    from vaultmail.errors import VaultmailError

    parser = ArgumentParser(prog="python -m vaultmail_dev.redrive")
    subparsers = parser.add_subparsers(dest="command", parser_class=ArgumentParser)
    command.register(subparsers)
    args: argparse.Namespace = parser.parse_args(["replay", *(sys.argv[1:] if argv is None else argv)])
    sqs = boto3.client("sqs")
    mover = LocalMover(sqs)
    try:
        return command.execute(args, sqs=sqs, mover=mover)
    except VaultmailError as exc:
        print(f"vaultmail: error: {exc.message}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
