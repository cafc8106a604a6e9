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
    results: list[dict[str, Any]] = []
    for record in event.records:
        message = record.sns
        logger.append_keys(sns_message_id=message.message_id)
        try:
            job = from_sns_message(
                message.message,
                message_id=message.message_id,
                attributes=message.raw_event.get("MessageAttributes") or {},
            )
        except InvalidEvent as exc:
            results.append(runtime.reject(f"sns:{message.message_id}", exc))
            continue
        if isinstance(job, Skip):
            logger.info("skipped", extra={"why": job.why})
            results.append({"origin": job.origin, "status": "skipped", "message": job.why})
            continue
        results.append(runtime.process(job).as_dict())  # transient errors raise: Lambda retries
    return {"results": results}
