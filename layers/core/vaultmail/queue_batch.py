"""Queued invocations: an SQS batch, one message at a time, with partial batch responses.

The uploaders and the scanner's arrival path are fed by SQS queues (template.yaml). Each
message of a batch is handled on its own by Powertools' batch utility: an archived or
permanently rejected mail is acknowledged, a transient failure is reported in
``batchItemFailures`` (the event sources have ``ReportBatchItemFailures``), so one failing
mail never re-runs the others.

A failed message is not retried here for long: its visibility timeout is set to the
backoff of :mod:`vaultmail.backoff` (growing with ``ApproximateReceiveCount``, honouring
Retry-After) with ``ChangeMessageVisibility``, so the mail waits in the queue and holds no
execution.

:class:`QueueBatch` is Powertools' ``BatchProcessor`` with one rule added, the way
Powertools' own ``SqsFifoPartialProcessor`` stops a FIFO batch: once the upload API is down
(:class:`OutageWatch`), the messages after are not tried (``Deferred``), so an outage costs
a batch two mails' attempts, not ten; and no message is started without the time to finish.
One mail's own failure (a poison mail, a bad vault or shard answering 5xx) defers nobody.
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from . import backoff
from .api import SLOT_REQUEST
from .errors import ApiKeyRefused, ApiNotFound, Deferred, UploadFailed
from .invocation import Invocation
from .settings import Settings

log = logging.getLogger(__name__)

# A mail is not started with less time left than this (a 50 MB upload needs far more; a
# deferred mail just waits for its next receive).
MIN_SECONDS_FOR_A_MAIL = 30.0
# A 5xx on the slot request is an outage once this many mails failed so in a row (no mail
# archived in between) with no vault in common, or OUTAGE_AFTER_ANY in a row whatever their vaults.
OUTAGE_AFTER_MAILS = 2
OUTAGE_AFTER_ANY = 3


def is_sqs(event: Any) -> bool:
    """An SQS event source's invocation (``Records`` whose ``eventSource`` is ``aws:sqs``)."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def api_failure(exc: BaseException) -> UploadFailed | None:
    """A transient failure of the slot request: the upload API failed, not this mail's upload
    to its slot (which may be the mail's own: a policy it breaks), nor S3 or the state table."""
    if isinstance(exc, UploadFailed) and exc.transient and exc.step == SLOT_REQUEST:
        return exc
    return None


def fails_everyone(exc: UploadFailed) -> bool:
    """A failure no other mail can escape: the connection (no answer at all), throttling (429),
    a refused key, a wrong endpoint. A 5xx may be one vault's or one mail's (a bad shard)."""
    return exc.status is None or exc.status == 429 or isinstance(exc, ApiKeyRefused | ApiNotFound)


@dataclass
class OutageWatch:
    """Tells an outage of the upload API from one mail's own failure, within one batch (pure)."""

    streak: list[UploadFailed] = field(default_factory=list)  # same-way slot failures in a row
    outage: UploadFailed | None = None

    def failed(self, exc: BaseException) -> None:
        failure = api_failure(exc)
        if failure is None or self.outage is not None:
            return  # not the API's (S3, the state table, a bug, the slot): says nothing of the others
        if fails_everyone(failure):
            self.outage = failure
            return
        if self.streak and failure.status != self.streak[-1].status:
            self.streak = []
        self.streak.append(failure)
        apart = [f for f in self.streak if not set(f.vaults) & set(failure.vaults)]
        if len(self.streak) >= OUTAGE_AFTER_ANY or (apart and len(self.streak) >= OUTAGE_AFTER_MAILS):
            self.outage = failure

    @property
    def suspect(self) -> bool:
        """A mail's slot request failed and no mail went through since: the API may be down."""
        return bool(self.streak)

    def succeeded(self) -> None:
        """A mail went through: the API answers, whatever failed before was those mails' own."""
        if self.outage is None:
            self.streak = []


class QueueBatch(BatchProcessor):
    """Powertools' SQS ``BatchProcessor`` that stops the batch on an outage or near the deadline."""

    def __init__(self, invocation: Invocation) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.invocation = invocation
        self.watch = OutageWatch()
        self.failed: list[tuple[SQSRecord, BaseException]] = []

    def invocation_for_next(self) -> Invocation:
        """The invocation the next message is handled with: a probe while the API is suspected
        down (one attempt per step, no wait: a suspected outage costs a request, not a backoff)."""
        return replace(self.invocation, probe=self.watch.suspect)

    def _why_not_start(self) -> Deferred | None:
        outage = self.watch.outage
        if outage is not None:
            return Deferred(
                "not tried: the upload API is failing for the mails before it in this batch",
                retry_after=outage.retry_after,
            )
        left = self.invocation.seconds_left()
        if left is not None and left < MIN_SECONDS_FOR_A_MAIL:
            return Deferred(f"not tried: {left:.0f} s left in this invocation")
        return None

    def _process_record(self, record: dict[str, Any]) -> Any:
        deferred = self._why_not_start()
        if deferred is None:
            return super()._process_record(record)
        try:
            raise deferred
        except Deferred:
            return self.failure_handler(SQSRecord(record), sys.exc_info())

    def success_handler(self, record: Any, result: Any) -> Any:
        self.watch.succeeded()
        return super().success_handler(record, result)

    def failure_handler(self, record: Any, exception: Any) -> Any:
        exc = exception[1]
        if not isinstance(exc, Deferred):
            self.watch.failed(exc)
        self.failed.append((record if isinstance(record, SQSRecord) else SQSRecord(record), exc))
        return super().failure_handler(record, exception)


def process(
    event: dict[str, Any],
    invocation: Invocation,
    record_handler: Callable[[SQSRecord, Invocation], None],
    *,
    sqs: Any,
    settings: Settings,
) -> PartialItemFailureResponse:
    """Each message through ``record_handler`` with its invocation (which raises only for what
    may pass); the partial batch response; the failed messages delayed in their queue. An
    empty batch (a test event, nothing to do) answers no failures."""
    if not event.get("Records"):
        return {"batchItemFailures": []}
    processor = QueueBatch(invocation)

    def each(record: SQSRecord) -> None:
        record_handler(record, processor.invocation_for_next())

    response = process_partial_response(
        event=event, record_handler=each, processor=processor, context=invocation.context
    )
    deferred = sum(isinstance(exc, Deferred) for _, exc in processor.failed)
    if deferred:
        log.warning("%d queued mail(s) deferred without an attempt", deferred)
    delay_failed(sqs, processor.failed, settings)
    return response


def queue_url(arn: str) -> str:
    """The URL of the queue ``arn:aws:sqs:<region>:<account>:<name>`` (SQS's documented form)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    _, partition, _, region, account, name = parts
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


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
