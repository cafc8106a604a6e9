"""Queued invocations: an SQS batch, one message at a time, with partial batch responses.

The uploaders are fed by SQS queues (template.yaml). Each message of a batch is handled on
its own by Powertools' batch utility (``BatchProcessor``, ``process_partial_response``):
an archived or permanently rejected mail is acknowledged, a transient failure is reported
in ``batchItemFailures`` (the function's event source has ``ReportBatchItemFailures``), so
one failing mail never re-runs the others.

A failed message is not retried here for long: its visibility timeout is set to the
backoff of :mod:`vaultmail.backoff` (growing with ``ApproximateReceiveCount``, honouring
Retry-After) with ``ChangeMessageVisibility``, so the mail waits in the queue
and holds no execution. Once the upload API has failed for one mail of a batch, the mails
after it are not tried (``Deferred``): during an outage a batch costs one mail's attempts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from . import backoff
from .api import SLOT_REQUEST
from .errors import Deferred, UploadFailed
from .settings import Settings

log = logging.getLogger(__name__)

# A mail is not started with less time left than this (a 50 MB upload needs far more; a
# deferred mail just waits for its next receive).
MIN_SECONDS_FOR_A_MAIL = 30.0


def is_sqs(event: Any) -> bool:
    """An SQS event source's invocation (``Records`` whose ``eventSource`` is ``aws:sqs``)."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def is_outage(exc: BaseException) -> TypeGuard[UploadFailed]:
    """A failure that tells of the upload API as a whole (the next mails of the batch would
    meet it too): a transient failure of the slot request (5xx, 429, resets, timeouts, a
    refused key, a wrong endpoint). A failed upload to the slot may be this mail's own (a
    policy the mail breaks, say): it fails that mail only, and the batch goes on."""
    return isinstance(exc, UploadFailed) and exc.transient and exc.step == SLOT_REQUEST


def queue_url(arn: str) -> str:
    """The URL of the queue ``arn:aws:sqs:<region>:<account>:<name>`` (SQS's documented form)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    _, partition, _, region, account, name = parts
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


@dataclass
class _Batch:
    """What one invocation learnt: which messages failed and why, whether the API is down."""

    context: Any
    outage: UploadFailed | None = None
    failed: list[tuple[SQSRecord, BaseException]] = field(default_factory=list)

    def time_left(self) -> float | None:
        if self.context is None or not hasattr(self.context, "get_remaining_time_in_millis"):
            return None
        return float(self.context.get_remaining_time_in_millis()) / 1000


def run(
    event: dict[str, Any],
    context: Any,
    handle: Callable[[SQSRecord], None],
    *,
    sqs: Any,
    settings: Settings,
) -> dict[str, Any]:
    """Handle each message with ``handle`` (which raises only for what may pass); answer the
    partial batch response and delay the failed messages in their queue."""
    batch = _Batch(context)

    def record_handler(record: SQSRecord) -> None:
        try:
            if batch.outage is not None:
                raise Deferred(
                    "not tried: the upload API failed for a mail before it in this batch",
                    retry_after=batch.outage.retry_after,
                )
            left = batch.time_left()
            if left is not None and left < MIN_SECONDS_FOR_A_MAIL:
                raise Deferred(f"not tried: {left:.0f} s left in this invocation")
            handle(record)
        except Exception as exc:
            if batch.outage is None and is_outage(exc):
                batch.outage = exc
            batch.failed.append((record, exc))
            raise

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    deferred = sum(isinstance(exc, Deferred) for _, exc in batch.failed)
    if deferred:
        log.warning("%d queued mail(s) deferred without an attempt", deferred)
    delay_failed(sqs, batch.failed, settings)
    return dict(response)


def delay_failed(sqs: Any, failed: list[tuple[SQSRecord, BaseException]], settings: Settings) -> None:
    """Set each failed message's visibility timeout to its backoff (``ChangeMessageVisibility``).

    One call per message, not ChangeMessageVisibilityBatch: the same IAM action in AWS, but
    the local stack's IAM check (moto) names the batch call by its own action. Best effort: a
    message whose change fails comes back after the queue's own visibility timeout, which is
    only later, never lost.
    """
    for record, exc in failed:
        try:
            url = queue_url(record.event_source_arn)
            count = int(record.attributes.approximate_receive_count or 1)
        except (KeyError, TypeError, ValueError):
            log.warning("a failed message without its queue or receive count keeps the queue's timeout")
            continue
        # bandit B311 silenced: the jitter only spreads retries in time; nothing secret depends on it
        jitter = random.random()  # nosec B311
        seconds = backoff.delay(
            max(1, count),
            retry_after=getattr(exc, "retry_after", None),
            jitter=jitter,
            base=settings.queue_backoff_base,
            cap=settings.queue_backoff_cap,
        )
        try:
            sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
            )
        except Exception as error:  # botocore errors: the queue's own timeout applies
            log.warning("could not delay a failed message: %s", type(error).__name__)
