"""Events as AWS delivers them, for the local stack: an SNS notification as the Lambda SNS
event, and what an EventBridge schedule sends."""

from __future__ import annotations

import time
import uuid
from typing import Any

from .cfn import ACCOUNT, REGION


def sns_event(body: dict[str, Any], msg: dict[str, Any]) -> dict[str, Any]:
    """An SNS notification delivered to SQS, reshaped as the Lambda SNS event."""
    sns = {
        "Type": body.get("Type", "Notification"),
        "MessageId": body["MessageId"],
        "TopicArn": body["TopicArn"],
        "Subject": body.get("Subject"),
        "Message": body["Message"],
        "Timestamp": body.get("Timestamp"),
        "SignatureVersion": body.get("SignatureVersion", "1"),
        "Signature": body.get("Signature", "EXAMPLE"),
        "SigningCertUrl": body.get("SigningCertURL", ""),
        "UnsubscribeUrl": body.get("UnsubscribeURL", ""),
        "MessageAttributes": body.get("MessageAttributes") or {},
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{body['TopicArn']}:{uuid.uuid4()}",
                "Sns": sns,
            }
        ]
    }


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge schedule sends to the scanner."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/vaultmail-scan"],
        "detail": {},
    }
