"""Oversize scanner: on an EventBridge schedule, notify the recipients of oversize mail, once.

The work is :class:`vaultmail.scanner.Scanner`'s; this handler parses the scheduled event,
gives the scanner the invocation's deadline (it stops early and leaves a cursor), and turns
the run's counters into Powertools metrics (namespace: POWERTOOLS_METRICS_NAMESPACE).
Failed notices do not fail the invocation (Lambda's retries would only repeat the run):
their claims are released, the next scheduled run retries them, and the NoticesFailed
metric is there to alarm on. A configuration error raises.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from vaultmail import runtime
from vaultmail.scanner import Scanner, ScanResult
from vaultmail.settings import Settings, get_settings

logger, metrics = runtime.logger, runtime.metrics

COUNTS = {
    "scanned": "ObjectsScanned",
    "oversize": "OversizeMails",
    "notified": "MailsNotified",
    "already_notified": "AlreadyNotified",
    "settled": "SettledBefore",
    "cold": "ColdMails",
    "in_progress": "NotifiedByAnotherRun",
    "failed": "NoticesFailed",
    "gave_up": "NoticesGivenUp",
    "deferred": "NoticesDeferred",
    "no_recipients": "NoRecipients",
    "unreadable": "UnreadableMails",
    "notices_sent": "NoticesSent",
    "recipients_notified": "RecipientsNotified",
}
BYTES = {"oversize_bytes": "OversizeBytes", "bytes_read": "HeaderBytesRead"}


@cache
def scanner(settings: Settings) -> Scanner:
    settings.require("mail_bucket", "notify_from", "state_table")
    return Scanner.from_settings(settings)


def record(result: ScanResult) -> None:
    stats = result.stats
    for name, metric in COUNTS.items():
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=getattr(stats, name))
    for name, metric in BYTES.items():
        metrics.add_metric(name=metric, unit=MetricUnit.Bytes, value=getattr(stats, name))
    metrics.add_metric(name="ScanIncomplete", unit=MetricUnit.Count, value=0 if result.complete else 1)
    level = logger.warning if stats.failed or result.stopped_sending or result.halted else logger.info
    level("scan finished", extra=result.as_dict())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(
        schedule=event.raw_event.get("resources") or [], event_time=event.raw_event.get("time")
    )
    # hourly runs would mail the admin 24 times a day: only when a run has news (metrics every run)
    result = scanner(get_settings()).run(remaining_ms=context.get_remaining_time_in_millis, send_stats="news")
    record(result)
    return result.as_dict()
