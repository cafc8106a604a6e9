"""Oversize scanner: notify the recipients of oversize mail, once, on arrival or by a sweep.

The work is :mod:`vaultmail.scanner`'s; this handler tells the events apart:

* SQS batches from the scanner's queue (partial batch responses, Powertools BatchProcessor):
  S3 "Object Created" events routed there by the EventBridge rule (one object each: its
  header block is read, nothing is listed), and the sweep's own continuation message;
* S3 Batch Operations tasks (schema 1.0 / 2.0), e.g. ``vaultmail backfill --oversize``;
* an SES receipt rule's Lambda action (no mail content; SES delivered that mail): recognised,
  counted apart (vaultmail.misdirected) and acknowledged;
* anything else is the EventBridge schedule: the backstop sweep.

EventBridge S3 events other than "Object Created" ("Object Deleted"...) in the queue are
acknowledged and ignored; an empty batch answers no failures.

A sweep cut by the deadline queues its continuation, so the next invocation resumes from the
cursor at once. Failed notices of a sweep do not fail the invocation: their claims are
released, the next sweep retries them, and the NoticesFailed metric is there to alarm on.
A configuration error raises.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from vaultmail import queue_batch, runtime
from vaultmail.errors import InvalidEvent
from vaultmail.invocation import Invocation
from vaultmail.misdirected import is_ses_lambda_action, ses_lambda_action
from vaultmail.scanner import Scanner, ScanResult
from vaultmail.scanner.arrival import (
    batch_operation,
    is_continuation,
    is_other_s3_event,
    notify_arrival,
    request_continuation,
)
from vaultmail.settings import Settings, get_settings

logger, metrics = runtime.logger, runtime.metrics

COUNTS = {
    "scanned": "ObjectsScanned",
    "oversize": "OversizeMails",
    "notified": "MailsNotified",
    "already_notified": "AlreadyNotified",
    "settled": "SettledBefore",
    "cold": "ColdMails",
    "seen_before": "DecidedBefore",
    "in_progress": "NotifiedByAnotherRun",
    "failed": "NoticesFailed",
    "gave_up": "NoticesGivenUp",
    "deferred": "NoticesDeferred",
    "no_recipients": "NoRecipients",
    "over_cap": "NoticesOverCap",
    "unreadable": "UnreadableMails",
    "notices_sent": "NoticesSent",
    "recipients_notified": "RecipientsNotified",
}
BYTES = {"oversize_bytes": "OversizeBytes", "bytes_read": "HeaderBytesRead"}


@cache
def scanner(settings: Settings) -> Scanner:
    settings.require("mail_bucket", "notify_from", "state_table")
    return Scanner.from_settings(settings)


def report(result: ScanResult, *, sweep: bool) -> None:
    stats = result.stats
    for name, metric in COUNTS.items():
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=getattr(stats, name))
    for name, metric in BYTES.items():
        metrics.add_metric(name=metric, unit=MetricUnit.Bytes, value=getattr(stats, name))
    for seconds in result.latencies:  # object LastModified -> notice sent, on either path
        metrics.add_metric(name="NoticeLatency", unit=MetricUnit.Seconds, value=seconds)
    if sweep:
        metrics.add_metric(name="ScanIncomplete", unit=MetricUnit.Count, value=0 if result.complete else 1)
    level = logger.warning if stats.failed or result.stopped_sending or result.halted else logger.info
    level("scan finished" if sweep else "arrival handled", extra=result.as_dict())


def sweep(context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    # daily backstop sweeps, continued at once when cut: mail the admin only when there is news
    result = scanner(settings).run(remaining_ms=context.get_remaining_time_in_millis, send_stats="news")
    report(result, sweep=True)
    if result.cut and settings.scan_queue_url:
        request_continuation(runtime.boto3_client("sqs"), settings.scan_queue_url, result)
        logger.info("sweep cut before the deadline; continuation queued")
    return result.as_dict()


def _json_object(record: SQSRecord) -> dict[str, Any]:
    try:
        body = record.json_body
    except ValueError:
        raise InvalidEvent("a queued message that is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidEvent("a queued message that is not a JSON object")
    return body


def ignored(problem: InvalidEvent) -> None:
    logger.warning("not an arrival event: acknowledged", extra={"why": str(problem)})
    metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)


def queued(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scanner(get_settings())  # a configuration error fails the invocation (the Errors alarm), not a record
    continued: list[str] = []

    def handle(record: SQSRecord, invocation: Invocation) -> None:
        try:
            body = _json_object(record)
            if is_continuation(body):
                continued.append(record.message_id)  # after the arrivals, with the time left
                return
            if is_other_s3_event(body):
                logger.info(
                    "ignored: an S3 event other than Object Created", extra={"type": body["detail-type"]}
                )
                return
            result = notify_arrival(scanner(get_settings()), body, context.get_remaining_time_in_millis)
        except InvalidEvent as exc:  # permanent: recorded once, never retried
            return ignored(exc)
        report(result, sweep=False)

    # partial batch response; a failed record waits in the queue with the uploaders' growing
    # backoff (ChangeMessageVisibility), as design.md asks of every queued path
    invocation = Invocation(context, queued=True)
    sqs, settings = runtime.boto3_client("sqs"), get_settings()
    response = dict(queue_batch.process(event, invocation, handle, sqs=sqs, settings=settings))
    if continued:
        sweep(context)
    return response


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "invocationSchemaVersion" in event:
        answer, result = batch_operation(scanner(get_settings()), event, context.get_remaining_time_in_millis)
        if result is not None:
            report(result, sweep=False)
        return answer
    if is_ses_lambda_action(event):
        return {"results": [ses_lambda_action(event, "oversize_scanner")]}
    if isinstance(event.get("Records"), list):
        return queued(event, context)
    logger.append_keys(schedule=event.get("resources") or [], event_time=event.get("time"))
    return sweep(context)
