"""S3 uploader: archive mail objects from S3 notifications, EventBridge, or S3 Batch Operations."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import (
    S3BatchOperationEvent,
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
    S3Event,
    S3EventBridgeNotificationEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from vaultmail import runtime
from vaultmail.errors import VaultmailError
from vaultmail.jobs import Job
from vaultmail.s3 import ObjectRef

logger, metrics = runtime.logger, runtime.metrics


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
    if key.endswith("/") or size == 0:
        logger.info("skipped: folder marker or empty object", extra={"key": key})
        return None
    ref = ObjectRef(
        bucket, key, version_id=version or None, etag=f'"{etag.strip(chr(34))}"' if etag else None
    )
    return Job(f"s3://{bucket}/{key}", s3=ref, recipients=recipients, sender=sender, tag_object=True)


def _notification_jobs(event: dict[str, Any]) -> list[Job | None]:
    if "detail-type" in event:
        detail = S3EventBridgeNotificationEvent(event).detail
        bridged = detail.object  # Powertools URL-decodes this key
        return [
            _job(
                detail.bucket.name,
                bridged.key,
                version=bridged.version_id,
                etag=bridged.etag,
                size=bridged.size,
            )
        ]
    jobs: list[Job | None] = []
    for record in S3Event(event).records:
        if not record.event_name.startswith("ObjectCreated"):
            continue
        obj = record.s3.get_object  # S3 notification keys are URL-encoded (Powertools leaves them so)
        jobs.append(
            _job(
                record.s3.bucket.name,
                unquote_plus(obj.key),
                version=obj.version_id,
                etag=obj.etag,
                size=obj.size,
            )
        )
    return jobs


def _batch(event: dict[str, Any]) -> dict[str, Any]:
    """S3 Batch Operations (schema 1.0 or 2.0): one task per invocation, one result code."""
    batch = S3BatchOperationEvent(event)
    task = batch.task
    args = (batch.job.user_arguments or {}) if batch.invocation_schema_version == "2.0" else {}
    job = _job(
        task.s3_bucket or (task.s3_bucket_arn or "").split(":::")[-1],
        task.s3_key,
        version=task.s3_version_id,
        etag=None,
        size=None,
        recipients=tuple(r.strip() for r in str(args.get("recipients") or "").split(",") if r.strip()),
        sender=args.get("sender") or None,
    )
    response = S3BatchOperationResponse(batch.invocation_schema_version, batch.invocation_id)
    if job is None:
        code, detail = "Succeeded", "skipped: folder marker"
    else:
        try:
            outcome = runtime.process(job)
        except VaultmailError as exc:  # transient: S3 Batch Operations retries the task
            code, detail = "TemporaryFailure", f"{exc.reason}: {exc.message}"
        else:
            archived = outcome.status == "archived"
            code = "Succeeded" if archived else "PermanentFailure"
            detail = str(outcome.upload_id) if archived else f"{outcome.reason}: {outcome.message}"
    response.add_result(S3BatchOperationResponseRecord(task.task_id, code, detail))  # type: ignore[arg-type]
    return response.asdict()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.start(context)
    if "invocationSchemaVersion" in event:
        return _batch(event)
    if event.get("Event") == "s3:TestEvent":
        logger.info("skipped: s3:TestEvent")
        return {"results": []}
    if "detail-type" not in event and "Records" not in event:
        logger.error("not an S3 event; nothing to archive", extra={"keys": sorted(event)[:10]})
        return {"results": [{"status": "rejected", "reason": "InvalidEvent"}]}
    results = [runtime.process(job).as_dict() for job in _notification_jobs(event) if job is not None]
    return {"results": results}
