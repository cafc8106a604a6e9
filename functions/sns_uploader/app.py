"""SNS uploader: archive the mail carried by (or pointed to by) each SNS message."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from vaultmail import runtime
from vaultmail.errors import InvalidEvent
from vaultmail.jobs import Skip, from_sns_message

logger, metrics = runtime.logger, runtime.metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    runtime.start(context)
    if not isinstance(event.get("Records"), list):
        problem = InvalidEvent("not an SNS event; nothing to archive")
        return {"results": [runtime.reject("sns-event", problem, what=event.raw_event)]}
    results: list[dict[str, Any]] = []
    for i, record in enumerate(event.records):  # each record on its own: a bad one blocks no other
        origin = f"sns-event:record {i}"
        logger.remove_keys(["sns_message_id"])
        try:
            message = record.sns
            origin = f"sns:{message.message_id}"
            logger.append_keys(sns_message_id=message.message_id)
            job = from_sns_message(
                message.message,
                message_id=message.message_id,
                attributes=message.raw_event.get("MessageAttributes") or {},
            )
        except (KeyError, TypeError, AttributeError) as exc:  # the data classes, on a malformed record
            job = InvalidEvent(f"record {i} is not an SNS notification ({type(exc).__name__} {exc})")
        except InvalidEvent as exc:
            job = exc
        if isinstance(job, InvalidEvent):  # permanent: recorded once (log, metric), never retried
            results.append(runtime.reject(origin, job, what=record.raw_event))
            continue
        if isinstance(job, Skip):
            logger.info("skipped", extra={"why": job.why})
            results.append({"origin": job.origin, "status": "skipped", "message": job.why})
            continue
        results.append(runtime.process(job).as_dict())  # transient errors raise: Lambda retries
    return {"results": results}
