"""Events a function was never meant to get: recognised, logged as what they are, counted apart.

An SES receipt rule's *Lambda action* invokes a function directly with the mail's metadata
and no content (https://docs.aws.amazon.com/ses/latest/dg/receiving-email-action-lambda-event.html):
nothing can be archived or scanned from it. It is not a rejected mail (``MailsRejected``): it
is a receipt rule to change, counted as ``SesLambdaActionEvents`` and logged with the action
to use instead.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from .runtime import logger, metrics

SES_LAMBDA_ACTION_METRIC = "SesLambdaActionEvents"

USE_INSTEAD = {
    "sns_uploader": (
        "an SNS action (encoding Base64) that publishes to the stack's mail topic, or an S3 action "
        "writing into the mail bucket with its SNS topic set to the mail topic"
    ),
    "s3_uploader": (
        "an S3 action that writes into the mail bucket: the bucket's notifications reach this "
        "function through its queue"
    ),
    "oversize_scanner": (
        "none: SES delivered the mail it received, and the scanner is for mail SES never sent "
        "(over its size limit); remove this Lambda action from the receipt rule"
    ),
}


def is_ses_lambda_action(event: Any) -> bool:
    """An SES receipt rule's Lambda-action invocation (``Records`` from ``aws:ses``)."""
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:ses" for r in records)
    )


def ses_lambda_action(event: dict[str, Any], function: str) -> dict[str, Any]:
    """Log and count an SES Lambda-action event (never retried: nothing in it can be done); the
    result to answer for it."""
    ids = [str(((r.get("ses") or {}).get("mail") or {}).get("messageId")) for r in event["Records"]]
    metrics.add_metric(name=SES_LAMBDA_ACTION_METRIC, unit=MetricUnit.Count, value=len(ids))
    advice = USE_INSTEAD[function]
    logger.error(
        "an SES receipt rule's Lambda action invoked this function: it carries no mail content, "
        "so nothing was done; use instead " + advice,
        extra={"ses_message_ids": ids, "use_instead": advice},
    )
    return {"origin": "ses-lambda-action", "status": "ignored", "message": advice}
