"""The arrival path's events, and the sweep's hand-over to the next invocation.

* An S3 "Object Created" event as S3 sends it to EventBridge (the bucket's
  ``EventBridgeConfiguration``), routed by the template's rule (size at or over the
  threshold, the scanned prefixes and suffixes) into the scanner's SQS queue: the body of
  each SQS record. See https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
* An S3 Batch Operations task (invocation schema 1.0 or 2.0), e.g. from
  ``vaultmail backfill --oversize``: answered Succeeded, TemporaryFailure (S3 retries it) or
  PermanentFailure per task. See https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-invoke-lambda.html
* The sweep's continuation: a message ``{"vaultmail": "continue-sweep"}`` a cut sweep puts
  on the same queue, so that the next invocation resumes from the cursor at once.

Only "Object Created" events are the scanner's (:func:`is_other_s3_event` tells the rest,
"Object Deleted" and the like, to be acknowledged); keys under SES_KEY_PREFIXES (mail SES
received, hence delivered) are never notified on either path.

A failure that is worth retrying raises :class:`ArrivalFailed`, so that the record returns
to its queue (the partial batch response) and, after its last try, to the dead-letter queue;
the claim was released as ``failed``, so the backstop sweep finds the mail as well.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import (
    S3BatchOperationEvent,
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
    S3EventBridgeNotificationEvent,
)
from botocore.exceptions import BotoCoreError, ClientError

from .. import s3 as s3io
from ..errors import InvalidEvent, StorageError, VaultmailError
from .core import Scanner
from .plan import Listed, received_by_ses
from .stats import ScanResult

log = logging.getLogger("vaultmail.scanner")

CONTINUE = "continue-sweep"
MALFORMED = (KeyError, TypeError, AttributeError, ValueError)


class ArrivalFailed(VaultmailError):
    """The notice of an arriving mail failed for now: the event is to be delivered again."""

    reason = "ArrivalFailed"
    transient = True


def is_continuation(body: Any) -> bool:
    return isinstance(body, Mapping) and body.get("vaultmail") == CONTINUE


def continuation(result: ScanResult) -> str:
    """The message body that hands a cut sweep to the next invocation."""
    return json.dumps({"vaultmail": CONTINUE, "bucket": result.bucket, "prefixes": list(result.prefixes)})


def request_continuation(sqs: Any, queue_url: str, result: ScanResult) -> None:
    """Put the continuation on the scanner's queue (raises StorageError: the schedule resumes then)."""
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody=continuation(result))
    except (BotoCoreError, ClientError) as exc:
        raise StorageError(f"could not queue the sweep's continuation: {type(exc).__name__}: {exc}") from exc


def is_other_s3_event(event: Mapping[str, Any]) -> bool:
    """An S3 event through EventBridge other than "Object Created" ("Object Deleted"...)."""
    return event.get("source") == "aws.s3" and event.get("detail-type") not in (None, "Object Created")


def object_created(event: Mapping[str, Any]) -> tuple[str, Listed]:
    """The bucket and object of an EventBridge "Object Created" event (InvalidEvent if it is not one)."""
    try:
        if event.get("detail-type") != "Object Created" or event.get("source") != "aws.s3":
            raise ValueError(f"detail-type {event.get('detail-type')!r} from {event.get('source')!r}")
        detail = S3EventBridgeNotificationEvent(dict(event)).detail
        # EventBridge carries the key raw (ev-events.html), unlike S3's notifications: Powertools'
        # S3EventBridgeNotificationObject.key URL-decodes it anyway, so it is read as sent
        obj = detail.object
        when = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
        return detail.bucket.name, Listed(
            key=str(obj["key"]), size=int(obj.size or 0), etag=str(obj.etag or ""), last_modified=when
        )
    except MALFORMED as exc:
        raise InvalidEvent(f"not an S3 Object Created event ({type(exc).__name__}: {exc})") from None


def notify_arrival(
    scanner: Scanner, event: Mapping[str, Any], remaining_ms: Callable[[], int] | None
) -> ScanResult:
    """Notify the object of one arrival event; raises ArrivalFailed to have it delivered again."""
    bucket, obj = object_created(event)
    if bucket != scanner.bucket:  # a rule for another bucket: not this scanner's mail
        log.warning(
            "arrival event of a bucket this scanner does not scan", extra={"bucket": bucket, "key": obj.key}
        )
        return ScanResult(scanner.bucket, ())
    if received_by_ses(obj.key, scanner.settings.ses_key_prefixes):
        log.info("not scanned: mail SES received (SES_KEY_PREFIXES)", extra={"key": obj.key})
        return ScanResult(scanner.bucket, ())
    result = scanner.notify_object(obj, remaining_ms=remaining_ms)
    if result.halted or result.any_failed:
        raise ArrivalFailed(f"{obj.key}: {result.halted or _first_error(result)}")
    return result


def _first_error(result: ScanResult) -> str:
    return next((o.error for o in result.outcomes if o.error), "notice failed")


def batch_operation(
    scanner: Scanner, event: dict[str, Any], remaining_ms: Callable[[], int] | None
) -> tuple[dict[str, Any], ScanResult | None]:
    """One S3 Batch Operations task: HEAD the object (size, ETag; no listing), then notify it."""
    batch = S3BatchOperationEvent(event)
    task = batch.task
    response = S3BatchOperationResponse(batch.invocation_schema_version, batch.invocation_id)
    result: ScanResult | None = None
    try:
        if task.s3_bucket != scanner.bucket:
            raise InvalidEvent(f"bucket {task.s3_bucket} is not the scanned bucket {scanner.bucket}")
        if received_by_ses(task.s3_key, scanner.settings.ses_key_prefixes):
            response.add_result(
                S3BatchOperationResponseRecord(
                    task.task_id, "Succeeded", "not scanned: under SES_KEY_PREFIXES"
                )
            )
            return response.asdict(), None
        meta = s3io.head(scanner.s3, s3io.ObjectRef(task.s3_bucket, task.s3_key))
        obj = Listed(key=task.s3_key, size=int(meta.size or 0), etag=str(meta.etag or ""))
        result = scanner.notify_object(obj, remaining_ms=remaining_ms)
        if result.halted or result.any_failed:
            code, detail = "TemporaryFailure", result.halted or _first_error(result)
        else:
            code, detail = "Succeeded", _summary(result)
    except (s3io.MailGone, InvalidEvent) as exc:
        code, detail = "PermanentFailure", f"{exc.reason}: {exc.message}"
    except VaultmailError as exc:
        code, detail = "TemporaryFailure", f"{exc.reason}: {exc.message}"
    response.add_result(S3BatchOperationResponseRecord(task.task_id, code, detail[:1000]))  # type: ignore[arg-type]
    return response.asdict(), result


def _summary(result: ScanResult) -> str:
    outcome = next(iter(result.outcomes), None)
    if outcome is not None:
        return outcome.status
    s = result.stats
    if not s.oversize:
        return "not an oversize mail of the scanned prefixes and suffixes"
    return (
        "already notified"
        if s.already_notified
        else ("settled before" if s.settled else "in progress elsewhere")
    )
