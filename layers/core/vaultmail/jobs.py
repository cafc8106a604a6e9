"""Jobs: one mail to archive, as an event describes it (pure: parsing only, no I/O).

The SNS uploader accepts four message formats (events/README.md): a raw RFC 822 mail, a
JSON envelope (``mail`` / ``mailBase64`` / ``s3``), an SES receipt notification (SNS or S3
action), and an SNS extended client S3 pointer. Each becomes a :class:`Job` or a
:class:`Skip`; anything else is an InvalidEvent (permanent).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidEvent
from .pointers import Location, confine
from .s3 import ObjectRef

POINTER_CLASSES = (
    "software.amazon.payloadoffloading.PayloadS3Pointer",
    "com.amazon.sqs.javamessaging.MessageS3Pointer",
)
SES_SETUP = "AMAZON_SES_SETUP_NOTIFICATION"


@dataclass(frozen=True)
class Job:
    """A mail to archive: inline bytes or an S3 object, plus the caller's vault hints.

    ``recipients``/``sender`` are the SDK's ``-r``/``-s`` (strict: each must be on a primary
    domain). ``envelope_recipients`` are SMTP RCPT TO addresses (SES receipts): those on a
    primary domain become vaults, the rest are ignored, so Bcc'd vaults are not missed.
    """

    origin: str
    mail: bytes | None = None
    s3: ObjectRef | None = None
    recipients: tuple[str, ...] = ()
    sender: str | None = None
    envelope_recipients: tuple[str, ...] = ()
    tag_object: bool = False
    meta: Mapping[str, str] = field(default_factory=dict)

    def idempotency_key(self) -> dict[str, Any]:
        """What makes this job unique: the object's bytes, or the message id and mail digest.

        An S3 job must be pinned first (``Uploader.pin``: a HEAD): it is keyed by its version
        id, or by its ETag when the bucket has no versions (``"null"``), never by bucket/key
        alone, which a later mail written to the same key would share. So a notification
        and an S3 Batch Operations task for the same object share one key.
        """
        key: dict[str, Any] = {"recipients": sorted(self.recipients), "sender": self.sender}
        if self.envelope_recipients:  # an SES receipt names vaults its headers may not (Bcc)
            key["envelope"] = sorted(self.envelope_recipients)
        if self.s3 is not None:
            if self.s3.pin is None:
                raise ValueError(f"{self.s3}: pin the object (version or ETag) before keying the job")
            key["s3"] = [self.s3.bucket, self.s3.key, self.s3.pin]
        else:
            key["origin"] = self.origin
            key["sha256"] = hashlib.sha256(self.mail or b"").hexdigest()
        return key


def is_ses_setup_key(key: Any) -> bool:
    """The object SES writes when an S3 action is set up (``<prefix>AMAZON_SES_SETUP_NOTIFICATION``)."""
    return isinstance(key, str) and key.rpartition("/")[2] == SES_SETUP


@dataclass(frozen=True)
class Skip:
    """A message that carries no mail and needs no retry (e.g. SES's setup notification)."""

    origin: str
    why: str


def confined(job: Job | Skip, locations: Sequence[Location]) -> Job | Skip:
    """``job`` if it carries its mail or points under ``locations`` (POINTER_LOCATIONS), else an
    InvalidEvent: a publisher to the topic cannot have an arbitrary object archived."""
    if isinstance(job, Job) and job.s3 is not None:
        confine(job.s3, locations, job.origin)
    return job


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise InvalidEvent(f"{what} must be a string or a list of strings")


def _attribute(attributes: Mapping[str, Any], name: str) -> Any:
    """An SNS message attribute's value (String or String.Array), or None."""
    attr = attributes.get(name) or attributes.get(name.capitalize())
    if attr is None:
        return None
    value = attr.get("Value") if isinstance(attr, Mapping) else attr
    if isinstance(attr, Mapping) and attr.get("Type") == "String.Array" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise InvalidEvent(f"message attribute {name} is not a JSON array") from None
    return value


def from_sns_message(
    message: str, *, message_id: str, attributes: Mapping[str, Any] | None = None
) -> Job | Skip:
    """Parse one SNS message (any of the four formats) into a Job or a Skip."""
    origin = f"sns:{message_id}"
    attributes = attributes or {}
    recipients = _strings(_attribute(attributes, "recipients"), "recipients attribute")
    sender_attr = _attribute(attributes, "sender")
    sender = str(sender_attr) if sender_attr else None
    text = message.lstrip()
    if not text:
        raise InvalidEvent(f"{origin}: the SNS message is empty")
    if text[0] not in "{[":
        return Job(
            origin, mail=message.encode("utf-8", "surrogateescape"), recipients=recipients, sender=sender
        )
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidEvent(f"{origin}: the message starts like JSON but is not JSON ({exc})") from None
    if isinstance(data, list):
        return _pointer(data, origin, recipients, sender)
    if not isinstance(data, dict):
        raise InvalidEvent(f"{origin}: unsupported JSON message")
    if "notificationType" in data or "eventType" in data:
        return _ses(data, origin, recipients, sender)
    return _envelope(data, origin, recipients, sender)


def _envelope(data: dict[str, Any], origin: str, recipients: tuple[str, ...], sender: str | None) -> Job:
    recipients = recipients + _strings(data.get("recipients"), "recipients")
    if data.get("sender") is not None and not isinstance(data["sender"], str):
        raise InvalidEvent(f"{origin}: sender must be a string")
    sender = data.get("sender") or sender
    if isinstance(data.get("mail"), str):
        return Job(
            origin, mail=data["mail"].encode("utf-8", "surrogateescape"), recipients=recipients, sender=sender
        )
    if isinstance(data.get("mailBase64"), str):
        try:
            mail = base64.b64decode(data["mailBase64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEvent(f"{origin}: mailBase64 is not valid base64") from None
        return Job(origin, mail=mail, recipients=recipients, sender=sender)
    if isinstance(data.get("s3"), dict):
        loc = data["s3"]
        bucket, key = loc.get("bucket"), loc.get("key")
        if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
            raise InvalidEvent(f"{origin}: s3 needs a bucket and a key")
        ref = ObjectRef(bucket, key, version_id=loc.get("versionId") or None)
        return Job(origin, s3=ref, recipients=recipients, sender=sender)
    raise InvalidEvent(f"{origin}: a JSON envelope needs one of mail, mailBase64 or s3")


def _ses(data: dict[str, Any], origin: str, recipients: tuple[str, ...], sender: str | None) -> Job | Skip:
    receipt = data.get("receipt") or {}
    action = receipt.get("action") or {}
    skip = _ses_without_mail(data, origin, action)
    if skip is not None:
        return skip
    mail_meta = data.get("mail") or {}
    envelope = _strings(receipt.get("recipients") or mail_meta.get("destination"), "receipt.recipients")
    meta = {"sesMessageId": str(mail_meta.get("messageId", ""))}
    common: dict[str, Any] = {
        "recipients": recipients,
        "sender": sender,
        "envelope_recipients": envelope,
        "meta": meta,
    }
    if action.get("type") == "S3":
        bucket, key = action.get("bucketName"), action.get("objectKey")
        if not bucket or not key:
            raise InvalidEvent(f"{origin}: SES S3 action without bucketName/objectKey")
        return Job(origin, s3=ObjectRef(bucket, key), **common)
    return Job(origin, mail=_ses_content(data, origin, action), **common)


def _ses_without_mail(data: dict[str, Any], origin: str, action: dict[str, Any]) -> Skip | None:
    """A Skip for SES's notifications that carry no mail; raises for one that should have."""
    kind = data.get("notificationType") or data.get("eventType")
    # SES's test message when a rule is set up: a notification type of its own, or (as seen in
    # practice) a Received notification whose message id or S3 object is named after it
    message_id = (data.get("mail") or {}).get("messageId")
    if kind == SES_SETUP or message_id == SES_SETUP or is_ses_setup_key(action.get("objectKey")):
        return Skip(origin, "SES setup notification")
    if kind != "Received":
        raise InvalidEvent(f"{origin}: SES {kind} notification carries no mail")
    if action.get("type") not in (None, "S3", "SNS"):  # Lambda, Bounce, Stop, WorkMail, ...
        why = f"SES {action.get('type')} action notification: only the S3 and SNS actions carry the mail"
        return Skip(origin, why)
    return None


def _ses_content(data: dict[str, Any], origin: str, action: dict[str, Any]) -> bytes:
    """The mail an SES SNS action carries in ``content`` (BASE64 or UTF-8)."""
    content = data.get("content")
    if not isinstance(content, str):
        raise InvalidEvent(
            f"{origin}: SES notification without content or an S3 action "
            "(mails over 150 KB need the S3 action)"
        )
    if str(action.get("encoding") or "UTF-8").upper() != "BASE64":
        return content.encode("utf-8", "surrogateescape")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent(f"{origin}: SES content is not valid base64") from None


def _pointer(data: list[Any], origin: str, recipients: tuple[str, ...], sender: str | None) -> Job:
    if len(data) != 2 or data[0] not in POINTER_CLASSES or not isinstance(data[1], dict):
        raise InvalidEvent(f"{origin}: a JSON array message must be an S3 payload pointer")
    bucket, key = data[1].get("s3BucketName"), data[1].get("s3Key")
    if not bucket or not key:
        raise InvalidEvent(f"{origin}: S3 pointer without s3BucketName/s3Key")
    return Job(origin, s3=ObjectRef(bucket, key), recipients=recipients, sender=sender)
