"""S3 uploader: archive mail objects from S3 notifications, EventBridge, or S3 Batch Operations.

The mail bucket's notifications and the external bucket's EventBridge events reach this
function through an SQS queue (each message body a notification, an EventBridge event or
S3's test event); S3 Batch Operations invoke it directly, and direct S3 or EventBridge
events (``sam local invoke``) work too. Only "Object Created" events are archived; other
EventBridge detail-types ("Object Deleted"...) are acknowledged and ignored. An SES receipt
rule's Lambda action (no mail content) is recognised and counted apart (vaultmail.misdirected).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import (
    S3BatchOperationEvent,
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
    S3EventBridgeNotificationEvent,
)
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from vaultmail import queue_batch, runtime
from vaultmail.errors import InvalidEvent
from vaultmail.invocation import Invocation
from vaultmail.jobs import Job, is_ses_setup_key
from vaultmail.misdirected import is_ses_lambda_action, ses_lambda_action
from vaultmail.s3 import ObjectRef
from vaultmail.settings import get_settings

logger, metrics = runtime.logger, runtime.metrics
MALFORMED = (KeyError, TypeError, AttributeError, ValueError)  # what the data classes raise on odd input
CREATED = "Object Created"
# What any S3 bucket name can be (the legacy us-east-1 names included), as botocore checks it
# before sending; a bucket ARN naming anything else can never be valid.
BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")


def _job(
    bucket: str,
    key: str,
    *,
    version: str | None,
    etag: str | None,
    size: int | None,
    recipients: tuple[str, ...] = (),
    sender: str | None = None,
) -> Job | None:
    if key.endswith("/") or size == 0 or is_ses_setup_key(key):
        logger.info("skipped: folder marker, empty object or SES setup object", extra={"key": key})
        return None
    ref = ObjectRef(
        bucket, key, version_id=version or None, etag=f'"{etag.strip(chr(34))}"' if etag else None
    )
    return Job(f"s3://{bucket}/{key}", s3=ref, recipients=recipients, sender=sender, tag_object=True)


def _bridged_job(event: dict[str, Any]) -> Job | None:
    detail = S3EventBridgeNotificationEvent(event).detail
    bridged = detail.object
    # EventBridge carries the key raw, not URL-encoded as S3's notifications are (a "+" or "%"
    # is part of the name; ev-events.html's examples, and S3's events as moto sends them to
    # EventBridge): Powertools' S3EventBridgeNotificationObject.key decodes it anyway, so the
    # key is read as sent. "version-id" is absent for unversioned buckets (Powertools'
    # version_id would raise KeyError).
    return _job(
        detail.bucket.name,
        str(bridged["key"]),
        version=bridged.get("version-id"),
        etag=bridged.etag,
        size=bridged.size,
    )


def _record_job(raw: dict[str, Any]) -> Job | None:
    record = S3EventRecord(raw)
    if not record.event_name.startswith("ObjectCreated"):
        return None
    obj = record.s3.get_object  # S3 notification keys are URL-encoded (Powertools leaves them so)
    return _job(
        record.s3.bucket.name,
        unquote_plus(obj.key),
        version=obj.version_id,
        etag=obj.etag,
        size=obj.get("size"),
    )


def _notifications(event: dict[str, Any], invocation: Invocation) -> list[dict[str, Any]]:
    """Each record on its own: a malformed one is rejected for good, the others are archived."""
    parts: list[tuple[str, Any, Callable[[Any], Job | None]]]
    if event.get("Event") == "s3:TestEvent":  # what S3 sends when a notification is configured
        logger.info("skipped: s3:TestEvent")
        return []
    if is_ses_lambda_action(event):
        return [ses_lambda_action(event, "s3_uploader")]
    if "detail-type" in event and event.get("detail-type") != CREATED:
        logger.info(
            "ignored: an EventBridge event other than Object Created", extra={"type": event["detail-type"]}
        )
        return []
    if "detail-type" in event:
        parts = [("eventbridge", event, _bridged_job)]
    elif isinstance(event.get("Records"), list):
        parts = [(f"record {i}", raw, _record_job) for i, raw in enumerate(event["Records"])]
    else:
        return [runtime.reject("s3-event", InvalidEvent("not an S3 event; nothing to archive"), what=event)]
    results = []
    for where, raw, parse in parts:
        try:
            job = parse(raw)
        except MALFORMED as exc:
            problem = InvalidEvent(f"not an S3 object event ({where}: {type(exc).__name__} {exc})")
            results.append(runtime.reject(f"s3-event:{where}", problem, what=raw))
            continue
        if job is not None and parse is _record_job and _left_to_ses(job):
            # the mail bucket's own notification of an SES S3 action that also notifies the SNS
            # uploader, which knows the envelope (only the mail bucket notifies this queue: an
            # external bucket's objects come through EventBridge and are always archived)
            logger.info("skipped: left to the SES notification (SES_KEY_PREFIXES)", extra={"key": job.s3.key})
            metrics.add_metric(name="LeftToSesNotification", unit=MetricUnit.Count, value=1)
        elif job is not None:
            # transient errors raise: the message returns to its queue (Lambda retries a direct event)
            results.append(runtime.process(job, invocation).as_dict())
    return results


def _left_to_ses(job: Job) -> bool:
    return job.s3 is not None and job.s3.key.startswith(get_settings().ses_key_prefixes)


def _batch_job(batch: S3BatchOperationEvent) -> Job | None:
    task = batch.task
    try:
        args = (batch.job.user_arguments or {}) if batch.invocation_schema_version == "2.0" else {}
        arn = task.s3_bucket_arn
        if arn is not None and (not arn.startswith("arn:aws") or ":s3:::" not in arn):
            raise InvalidEvent(f"the task's bucket ARN {arn[:100]!r} is not an S3 bucket ARN")
        if not BUCKET_NAME.fullmatch(task.s3_bucket):
            raise InvalidEvent(
                f"the task's bucket {task.s3_bucket[:100]!r} can be no S3 bucket "
                "(1 to 255 letters, digits, '.', '-' or '_')"
            )
        return _job(
            task.s3_bucket,
            task.s3_key,
            version=task.s3_version_id,
            etag=None,
            size=None,
            recipients=tuple(r.strip() for r in str(args.get("recipients") or "").split(",") if r.strip()),
            sender=args.get("sender") or None,
        )
    except MALFORMED as exc:
        raise InvalidEvent(f"not an S3 Batch Operations task ({type(exc).__name__} {exc})") from None


def _batch(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 Batch Operations (schema 1.0 or 2.0): one task per invocation, one result code.

    Never a function error: whatever may pass (API, S3, state table, settings, a concurrent
    invocation, a bug) is a TemporaryFailure, which S3 Batch Operations retries, with the
    reason as the result string.
    """
    batch = S3BatchOperationEvent(event)
    try:
        task = batch.task
        response = S3BatchOperationResponse(batch.invocation_schema_version, batch.invocation_id)
    except (*MALFORMED, StopIteration) as exc:  # no task to answer for: not from S3 Batch Operations
        problem = InvalidEvent(f"not an S3 Batch Operations invocation ({type(exc).__name__})")
        runtime.start(context)
        return {"results": [runtime.reject("s3-batch", problem, what=event)]}
    try:
        invocation = runtime.start(context)
        job = _batch_job(batch)
        if job is None:
            code, detail = "Succeeded", "skipped: folder marker"
        else:
            outcome = runtime.process(job, invocation)
            archived = outcome.status == "archived"
            code = "Succeeded" if archived else "PermanentFailure"
            detail = str(outcome.upload_id) if archived else f"{outcome.reason}: {outcome.message}"
    except InvalidEvent as exc:  # a task we cannot read: retrying cannot help
        runtime.reject(f"s3-batch:{task.task_id}", exc)
        code, detail = "PermanentFailure", runtime.why(exc)
    except Exception as exc:
        runtime.failed(exc)  # logged and counted once (a no-op if runtime already did)
        code, detail = "TemporaryFailure", runtime.why(exc)
    response.add_result(S3BatchOperationResponseRecord(task.task_id, code, detail))  # type: ignore[arg-type]
    return response.asdict()


def _queued(record: SQSRecord, invocation: Invocation) -> None:
    try:
        body = json.loads(record.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        problem = InvalidEvent("a queued message that is not an S3 or EventBridge event")
        runtime.reject(f"sqs:{record.message_id}", problem, what=record.body)
        return
    _notifications(body, invocation)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "invocationSchemaVersion" in event:
        return _batch(event, context)
    queued = queue_batch.is_sqs(event)
    invocation = runtime.start(context, queued=queued)
    if queued:
        sqs, settings = runtime.boto3_client("sqs"), get_settings()
        return dict(queue_batch.process(event, invocation, _queued, sqs=sqs, settings=settings))
    return {"results": _notifications(event, invocation)}
