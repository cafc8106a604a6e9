"""SNS message formats -> Jobs (design.md "SNS message formats"), pure parsing."""

from __future__ import annotations

import base64
import json

import pytest

from vaultmail.errors import InvalidEvent
from vaultmail.jobs import Job, Skip, from_sns_message
from vaultmail.s3 import ObjectRef

MAIL = "From: amit@acme.com\r\nTo: ops@acme.com\r\nSubject: hi\r\n\r\nbody\r\n"


def parse(message: str, attributes: dict | None = None) -> Job | Skip:
    return from_sns_message(message, message_id="m-1", attributes=attributes)


def test_raw_mail() -> None:
    job = parse(MAIL)
    assert isinstance(job, Job) and job.mail == MAIL.encode() and job.s3 is None


def test_envelope_mail_with_recipients_and_sender() -> None:
    job = parse(
        json.dumps({"mail": MAIL, "recipients": ["a@acme.com", "b@acme.com"], "sender": "s@acme.com"})
    )
    assert isinstance(job, Job)
    assert job.recipients == ("a@acme.com", "b@acme.com") and job.sender == "s@acme.com"


def test_envelope_base64_keeps_8bit_bytes() -> None:
    raw = "Subject: caf\xe9\r\nTo: ops@acme.com\r\n\r\n".encode("latin-1")
    job = parse(json.dumps({"mailBase64": base64.b64encode(raw).decode()}))
    assert isinstance(job, Job) and job.mail == raw


def test_envelope_s3_pointer() -> None:
    job = parse(json.dumps({"s3": {"bucket": "b", "key": "k/x.eml", "versionId": "v1"}}))
    assert isinstance(job, Job) and job.s3 is not None
    assert (job.s3.bucket, job.s3.key, job.s3.version_id) == ("b", "k/x.eml", "v1")


def test_message_attributes_act_as_r_and_s() -> None:
    attrs = {
        "recipients": {"Type": "String.Array", "Value": '["x@acme.com","y@acme.com"]'},
        "sender": {"Type": "String", "Value": "s@acme.com"},
    }
    job = parse(MAIL, attrs)
    assert isinstance(job, Job) and job.recipients == ("x@acme.com", "y@acme.com")
    assert job.sender == "s@acme.com"


def test_ses_received_base64_content_uses_envelope_recipients() -> None:
    note = {
        "notificationType": "Received",
        "mail": {"messageId": "ses-1", "destination": ["bcc@acme.com"]},
        "receipt": {"recipients": ["bcc@acme.com"], "action": {"type": "SNS", "encoding": "BASE64"}},
        "content": base64.b64encode(MAIL.encode()).decode(),
    }
    job = parse(json.dumps(note))
    assert isinstance(job, Job) and job.mail == MAIL.encode()
    assert job.envelope_recipients == ("bcc@acme.com",) and job.recipients == ()


def test_ses_received_utf8_content() -> None:
    note = {
        "notificationType": "Received",
        "receipt": {"action": {"type": "SNS", "encoding": "UTF-8"}},
        "content": MAIL,
    }
    job = parse(json.dumps(note))
    assert isinstance(job, Job) and job.mail == MAIL.encode()


def test_ses_received_s3_action() -> None:
    note = {
        "notificationType": "Received",
        "receipt": {"action": {"type": "S3", "bucketName": "inbound", "objectKey": "mail/abc"}},
    }
    job = parse(json.dumps(note))
    assert isinstance(job, Job) and job.s3 is not None and job.s3.key == "mail/abc"


@pytest.mark.parametrize(
    "note",
    [
        {"notificationType": "AMAZON_SES_SETUP_NOTIFICATION"},
        # as SES has been seen to send it: a Received notification named after the marker
        {"notificationType": "Received", "mail": {"messageId": "AMAZON_SES_SETUP_NOTIFICATION"}},
        {
            "notificationType": "Received",
            "receipt": {
                "action": {"type": "S3", "bucketName": "b", "objectKey": "ses/AMAZON_SES_SETUP_NOTIFICATION"}
            },
        },
    ],
)
def test_ses_setup_notification_is_skipped(note: dict) -> None:
    assert isinstance(parse(json.dumps(note)), Skip)


@pytest.mark.parametrize("action", ["Lambda", "Bounce", "Stop", "WorkMail", "AddHeader"])
def test_ses_actions_that_carry_no_mail_are_skipped(action: str) -> None:
    note = {"notificationType": "Received", "receipt": {"action": {"type": action}}}
    skip = parse(json.dumps(note))
    assert isinstance(skip, Skip) and action in skip.why


def test_envelope_recipients_make_an_ses_job_another_job() -> None:
    """An S3 notification and an SES S3-action notification for one object: the SES job also
    knows the envelope (Bcc'd vaults), so it must not share the header-only job's outcome."""
    ref = ObjectRef("b", "ses/m1", version_id="v1")
    plain = Job("s3://b/ses/m1", s3=ref)
    ses = Job("sns:m-1", s3=ref, envelope_recipients=("ceo@acme.com",))
    reordered = Job("sns:m-2", s3=ref, envelope_recipients=("ceo@acme.com",))
    assert plain.idempotency_key() != ses.idempotency_key() == reordered.idempotency_key()


@pytest.mark.parametrize(
    "cls",
    ["software.amazon.payloadoffloading.PayloadS3Pointer", "com.amazon.sqs.javamessaging.MessageS3Pointer"],
)
def test_extended_client_pointers(cls: str) -> None:
    job = parse(json.dumps([cls, {"s3BucketName": "big", "s3Key": "k1"}]))
    assert isinstance(job, Job) and job.s3 is not None and (job.s3.bucket, job.s3.key) == ("big", "k1")


@pytest.mark.parametrize(
    "message",
    [
        "",
        "{not json",
        json.dumps({"hello": 1}),
        json.dumps({"mailBase64": "***"}),
        json.dumps({"s3": {"bucket": "b"}}),
        json.dumps(["other.Class", {}]),
        json.dumps({"notificationType": "Bounce"}),
        json.dumps({"mail": MAIL, "recipients": 5}),
    ],
)
def test_wrong_messages_are_invalid_events(message: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse(message)
    assert not err.value.transient


def test_idempotency_key_is_stable_and_distinguishes_mails() -> None:
    a, b, c = parse(MAIL), parse(MAIL), parse(MAIL + "x")
    assert isinstance(a, Job) and isinstance(b, Job) and isinstance(c, Job)
    assert a.idempotency_key() == b.idempotency_key() != c.idempotency_key()
    json.dumps(a.idempotency_key())  # Powertools hashes the JSON form


def _s3_job(version: str | None = None, etag: str | None = None) -> Job:
    return Job("s3://b/k", s3=ObjectRef("b", "k", version_id=version, etag=etag))


def test_s3_job_is_keyed_by_its_version_else_its_etag() -> None:
    assert _s3_job("v1", '"aaa"').idempotency_key()["s3"] == ["b", "k", "v1"]
    # "null" is the version id of objects in unversioned or suspended buckets: it names no bytes
    null_a, null_b = _s3_job("null", '"aaa"'), _s3_job("null", '"bbb"')
    assert null_a.idempotency_key()["s3"] == ["b", "k", "aaa"]  # the ETag without its quotes
    assert null_a.idempotency_key() != null_b.idempotency_key()
    assert _s3_job(None, '"aaa"').idempotency_key() == null_a.idempotency_key()


@pytest.mark.parametrize("version", [None, "null"])
def test_unpinned_s3_job_has_no_key(version: str | None) -> None:
    """bucket/key alone would be shared by the next mail written to the same key."""
    with pytest.raises(ValueError, match="pin"):
        _s3_job(version, None).idempotency_key()
