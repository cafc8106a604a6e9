"""Replay a dead-letter queue: re-invoke each failed event, then delete it from the queue.

The uploaders' OnFailure destination is an SQS queue holding Lambda's destination records
(``requestPayload`` is the original event, whole). After fixing the cause (API outage, key,
settings), an operator replays them; idempotency makes a replay of an event that did
succeed in the meantime a no-op. Takes its SQS and Lambda clients as arguments.

A message that holds no event (Lambda leaves ``requestPayload`` out of a destination record
when the event is too large to fit) cannot be replayed: it is reported (``skipped``) and
left in the queue, and the replay goes on with the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import InvalidEvent, StorageError


@dataclass(frozen=True)
class Replayed:
    message_id: str
    condition: str | None
    error: str | None
    invoked: bool
    skipped: str | None = None  # why the message could not be replayed (it stays in the queue)


def payload_of(body: str) -> dict[str, Any]:
    """The original event of a Lambda destination record (or a bare event, as some DLQs hold)."""
    try:
        record = json.loads(body)
    except ValueError:
        raise InvalidEvent("a dead-letter message that is not JSON") from None
    if isinstance(record, dict) and isinstance(record.get("requestPayload"), dict):
        return record["requestPayload"]
    if isinstance(record, dict) and ("Records" in record or "detail-type" in record):
        return record
    raise InvalidEvent(
        "a dead-letter message without requestPayload (Lambda leaves out events too large for the "
        "record): nothing to replay; find the event from the error and the logs"
    )


def replay(
    sqs: Any,
    lambda_client: Any,
    queue_url: str,
    function: str,
    *,
    limit: int | None = None,
    dry_run: bool = False,
) -> Iterator[Replayed]:
    """Re-invoke (asynchronously, like the original delivery) each dead-lettered event."""
    done = 0
    seen_skipped: set[str] = set()  # a skipped message comes back once its visibility times out
    try:
        while limit is None or done < limit:
            batch = min(10, limit - done) if limit else 10
            msgs = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=batch, WaitTimeSeconds=1, VisibilityTimeout=60
            ).get("Messages", [])
            if not msgs:
                return
            for msg in msgs:
                ctx, resp = _context_of(msg["Body"])
                condition, error = ctx.get("condition"), resp.get("errorMessage")
                try:
                    payload = payload_of(msg["Body"])
                except InvalidEvent as exc:  # reported once, left in the queue (not deleted)
                    if msg["MessageId"] not in seen_skipped:
                        seen_skipped.add(msg["MessageId"])
                        done += 1
                        yield Replayed(msg["MessageId"], condition, error, False, skipped=exc.message)
                    continue
                if not dry_run:
                    lambda_client.invoke(
                        FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode()
                    )
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
                done += 1
                yield Replayed(msg["MessageId"], condition, error, not dry_run)
            if dry_run:
                return
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"replay from {queue_url}: {exc}") from exc


def _context_of(body: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``requestContext`` and ``responsePayload`` of a destination record ({} when absent)."""
    try:
        record = json.loads(body)
    except ValueError:
        return {}, {}
    if not isinstance(record, dict):
        return {}, {}
    ctx, resp = record.get("requestContext"), record.get("responsePayload")
    return (ctx if isinstance(ctx, dict) else {}), (resp if isinstance(resp, dict) else {})
