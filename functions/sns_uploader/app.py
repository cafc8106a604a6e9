"""SNS uploader: archive the mail carried by (or pointed to by) each SNS message.

The mail topic delivers to an SQS queue that feeds this function (each message body an SNS
notification, the envelope kept); a direct SNS event (``sam local invoke``) works too. An SNS
``SubscriptionConfirmation`` in the queue is logged with its SubscribeURL for an operator (never
confirmed here); an SES receipt rule's Lambda action (no mail content) is recognised and
counted apart (vaultmail.misdirected).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSMessage
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from vaultmail import queue_batch, runtime
from vaultmail.errors import InvalidEvent
from vaultmail.invocation import Invocation
from vaultmail.jobs import Skip, confined, from_sns_message
from vaultmail.misdirected import is_ses_lambda_action, ses_lambda_action
from vaultmail.settings import get_settings

logger, metrics = runtime.logger, runtime.metrics


def _archive(sns: Any, where: str, invocation: Invocation) -> dict[str, Any]:
    """One SNS notification (a record's ``Sns``, or a queued message's body); transient errors raise."""
    origin = f"sns-event:{where}"
    logger.remove_keys(["sns_message_id"])
    try:
        message = SNSMessage(sns)
        origin = f"sns:{message.message_id}"
        logger.append_keys(sns_message_id=message.message_id)
        job = from_sns_message(
            message.message, message_id=message.message_id, attributes=sns.get("MessageAttributes") or {}
        )
        job = confined(job, get_settings().pointer_locations)  # only under POINTER_LOCATIONS
    except (KeyError, TypeError, AttributeError) as exc:  # the data classes, on a malformed record
        job = InvalidEvent(f"{where} is not an SNS notification ({type(exc).__name__} {exc})")
    except InvalidEvent as exc:
        job = exc
    if isinstance(job, InvalidEvent):  # permanent: recorded once (log, metric), never retried
        return runtime.reject(origin, job, what=sns)
    if isinstance(job, Skip):
        logger.info("skipped", extra={"why": job.why})
        return {"origin": job.origin, "status": "skipped", "message": job.why}
    return runtime.process(job, invocation).as_dict()


def _subscription_confirmation(body: dict[str, Any]) -> None:
    """SNS asks the queue's owner to confirm a subscription (a topic of another account): said
    with its SubscribeURL, for an operator to open if the subscription is wanted; never opened here.
    https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html"""
    logger.warning(
        "an SNS subscription confirmation reached the queue: nothing archived; if this topic is "
        "meant to feed the uploader, an operator confirms it by opening SubscribeURL",
        extra={"topic_arn": body.get("TopicArn"), "subscribe_url": body.get("SubscribeURL")},
    )


def _queued(record: SQSRecord, invocation: Invocation) -> None:
    try:
        body = json.loads(record.body)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("Type") == "SubscriptionConfirmation":
        return _subscription_confirmation(body)
    if not isinstance(body, dict) or body.get("Type") != "Notification":
        problem = InvalidEvent("a queued message that is not an SNS notification (raw delivery is off)")
        runtime.reject(f"sqs:{record.message_id}", problem, what=record.body)
        return
    _archive(body, f"sqs {record.message_id}", invocation)
    return None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    queued = queue_batch.is_sqs(event)
    invocation = runtime.start(context, queued=queued)
    if queued:
        sqs, settings = runtime.boto3_client("sqs"), get_settings()
        return dict(queue_batch.process(event, invocation, _queued, sqs=sqs, settings=settings))
    if is_ses_lambda_action(event):
        return {"results": [ses_lambda_action(event, "sns_uploader")]}
    if not isinstance(event.get("Records"), list):
        problem = InvalidEvent("not an SNS event; nothing to archive")
        return {"results": [runtime.reject("sns-event", problem, what=event)]}
    records = SNSEvent(event).records  # each record on its own: a bad one blocks no other
    results = [
        _archive(r.raw_event.get("Sns") or r.raw_event, f"record {i}", invocation)
        for i, r in enumerate(records)
    ]
    return {"results": results}
