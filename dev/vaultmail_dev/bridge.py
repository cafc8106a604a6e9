"""S3 events to EventBridge rules on moto, as AWS delivers them (development and tests only).

moto 5.2's S3 already tells EventBridge of an object's events when the bucket's
``NotificationConfiguration`` has ``EventBridgeConfiguration`` (``moto.s3.notifications.
send_event`` calls ``_send_event_bridge_message``), and moto's rules send to SQS targets. Two
things of that path differ from AWS, so this module replaces that one function while the local
stack runs (and puts it back after):

* the event: moto's has ``eTag`` (AWS: ``etag``), ``reason`` ``ObjectCreated`` (AWS: the API,
  ``PutObject``...), one fixed ``id`` and ``sequencer`` for every event, and ``version-id``
  null in an unversioned bucket. :func:`object_created` builds the event as S3 documents it:
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
* the matching: moto's matcher is not AWS's content filtering (``exists`` on a null, numbers as
  strings...); :mod:`vaultmail_dev.eventpattern` decides instead.

Everything else stays moto's: the rules and their targets are moto resources (the local stack
creates the template's ``AWS::Events::Rule``s with ``PutRule``/``PutTargets``), read from its
events backend at each event, and an SQS target gets the event JSON as the message body, which
is what EventBridge sends to a queue without an ``InputTransformer``
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html). Only the default
event bus receives S3's events ("Amazon S3 event notifications are sent to the default event
bus", https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html), and only the
"Object Created" events are emitted here (the stack's rules match nothing else). Like AWS
(delivery is asynchronous to the request), a failure never fails the S3 request: it is counted
in :attr:`Bridge.errors` for the tests to see.
"""

from __future__ import annotations

import itertools
import json
import secrets
import string
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import eventpattern

# The S3 API that created the object, by moto's event name ("reason" in the event detail:
# "PutObject, POST Object, CopyObject, or CompleteMultipartUpload", ev-events.html).
REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}
_SEQUENCE = itertools.count(time.time_ns() // 1000)


def object_created(account: str, region: str, bucket: Any, event_name: str, key: Any) -> dict[str, Any]:
    """The "Object Created" event S3 sends to EventBridge for moto's bucket and key objects.

    The key is not URL-encoded (unlike S3's notifications to SQS/SNS/Lambda); ``version-id``
    only in a bucket with versioning; ``sequencer`` a hexadecimal string that grows with each
    event of the bucket; ``time`` when the object was created (ev-events.html).
    """
    obj: dict[str, Any] = {"key": key.name, "size": key.size, "etag": key.etag.strip('"')}
    if bucket.is_versioned:
        obj["version-id"] = key.version_id
    obj["sequencer"] = f"{next(_SEQUENCE):018X}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": key.last_modified.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [bucket.arn],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": obj,
            "request-id": "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
            "requester": account,
            "source-ip-address": "127.0.0.1",
            "reason": REASONS[event_name],
        },
    }


@dataclass
class Bridge:
    """S3's EventBridge notifications on moto, while installed (``with Bridge(...):``)."""

    account: str
    region: str
    events: list[dict[str, Any]] = field(default_factory=list)  # every event S3 emitted
    matched: Counter[str] = field(default_factory=Counter)  # rule name -> events it matched
    delivered: Counter[str] = field(default_factory=Counter)  # target ARN -> messages sent
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _saved: Any = field(default=None, repr=False)

    def __enter__(self) -> Bridge:
        import moto.s3.notifications as notifications

        if not hasattr(notifications, "_send_event_bridge_message"):  # moto changed: say so
            raise RuntimeError("moto.s3.notifications._send_event_bridge_message is gone")
        self._saved = notifications._send_event_bridge_message
        module: Any = notifications  # replaced for a while, signature kept
        module._send_event_bridge_message = self._notify
        return self

    def __exit__(self, *exc: object) -> None:
        import moto.s3.notifications as notifications

        module: Any = notifications
        module._send_event_bridge_message = self._saved

    def _notify(self, account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        """moto's S3 calls this (in the request's thread) for each event of a bucket with
        EventBridge notifications on; it must not raise into the S3 request."""
        if event_name not in REASONS:
            return
        if event_name == "s3:ObjectCreated:Put" and getattr(key, "multipart", None) is not None:
            return  # moto's CompleteMultipartUpload also reports a Put; S3 sends one event
        try:
            self.deliver(object_created(account_id, bucket.region_name, bucket, event_name, key))
        except Exception as exc:  # counted, never raised into the S3 request
            with self._lock:
                self.errors.append(f"{key.name}: {type(exc).__name__}: {exc}")

    def deliver(self, event: dict[str, Any]) -> list[str]:
        """Send ``event`` to the targets of every enabled rule of the default bus it matches;
        the names of those rules."""
        from moto.events.models import events_backends
        from moto.sqs.models import sqs_backends

        with self._lock:
            self.events.append(event)
        bus = events_backends[self.account][self.region].event_buses["default"]
        names = []
        for rule in list(bus.rules.values()):
            raw = rule.event_pattern.dump()
            if rule.state != "ENABLED" or not raw or not eventpattern.matches(raw, event):
                continue
            names.append(rule.name)
            with self._lock:
                self.matched[rule.name] += 1
            for target in rule.targets:
                arn = str(target["Arn"]).split(":")
                if arn[2] != "sqs":
                    raise NotImplementedError(f"rule {rule.name}: target {target['Arn']} is not a queue")
                sqs_backends[arn[4]][arn[3]].send_message(queue_name=arn[5], message_body=json.dumps(event))
                with self._lock:
                    self.delivered[target["Arn"]] += 1
        return names


def notification_configuration(template: dict[str, Any] | None) -> dict[str, Any] | None:
    """A bucket's ``NotificationConfiguration`` (resolved template value) for
    PutBucketNotificationConfiguration: its queue notifications, and ``EventBridgeConfiguration``
    when ``EventBridgeEnabled`` (S3 then sends all its events to EventBridge, EventBridge.html)."""
    if not template:
        return None
    config: dict[str, Any] = {
        "QueueConfigurations": [
            {
                "QueueArn": q["Queue"],
                "Events": [q["Event"]],
                **({"Filter": q["Filter"]} if "Filter" in q else {}),
            }
            for q in template.get("QueueConfigurations") or []
        ]
    }
    if (template.get("EventBridgeConfiguration") or {}).get("EventBridgeEnabled"):
        config["EventBridgeConfiguration"] = {}
    return config


def create_rules(
    stack_resolver: Any, rules: dict[str, dict[str, Any]], events: Any
) -> dict[str, dict[str, str]]:
    """Create the template's ``AWS::Events::Rule``s (their condition true) in moto's EventBridge,
    as CloudFormation would: the event pattern resolved (JSON text parsed), SQS targets only.
    Returns their physical ids (``Ref`` the name, ``Arn``) by logical id."""
    physical: dict[str, dict[str, str]] = {}
    for logical, res in rules.items():
        if res.get("Condition") and not stack_resolver.condition(res["Condition"]):
            continue
        props = stack_resolver.value(res.get("Properties") or {})
        pattern = props["EventPattern"]
        pattern = json.loads(pattern) if isinstance(pattern, str) else pattern
        name = str(props.get("Name") or f"vaultmail-{logical}")
        arn = events.put_rule(
            Name=name,
            EventPattern=json.dumps(pattern),
            State=props.get("State", "ENABLED"),
            Description=props.get("Description", ""),
        )["RuleArn"]
        targets = []
        for target in props.get("Targets") or []:
            if ":sqs:" not in str(target["Arn"]) or {"Input", "InputPath", "InputTransformer"} & set(target):
                raise NotImplementedError(f"{logical}: only SQS targets of the whole event are emulated")
            targets.append(
                {k: v for k, v in target.items() if k in ("Id", "Arn", "RetryPolicy", "DeadLetterConfig")}
            )
        if targets:
            events.put_targets(Rule=name, Targets=targets)
        physical[logical] = {"Ref": name, "Arn": arn}
    return physical
