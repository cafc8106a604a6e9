"""POINTER_LOCATIONS (issue 20, part 2): an SNS message may point only under the locations the
administrator allows; a forged pointer is an InvalidEvent that names the location (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultmail.errors import ConfigurationError, InvalidEvent
from vaultmail.jobs import Job, Skip, confined, from_sns_message
from vaultmail.pointers import Location, confine, parse_locations
from vaultmail.s3 import ObjectRef
from vaultmail.settings import Settings

FORGED = Path(__file__).parent / "fixtures" / "forged"
MAIL_BUCKET, PAYLOADS = "vaultmail-mail-test", "vaultmail-payloads"
# what the template sets: the payload bucket, and the mail bucket under SES_KEY_PREFIXES
LOCATIONS = parse_locations([f"{PAYLOADS}/", f"{MAIL_BUCKET}/ses/"])


def parse(message: str) -> Job | Skip:
    return confined(from_sns_message(message, message_id="m-1"), LOCATIONS)


@pytest.mark.parametrize("name", ["envelope-s3.json", "ses-s3-action.json", "extended-client-pointer.json"])
def test_forged_pointers_into_the_mail_bucket_are_invalid_events(name: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse((FORGED / name).read_text())
    text = str(caught.value)
    assert f"s3://{MAIL_BUCKET}/private/ceo-board.eml" in text
    assert f"{MAIL_BUCKET}/ses/" in text and "POINTER_LOCATIONS" in text


@pytest.mark.parametrize(
    "message",
    [
        json.dumps({"s3": {"bucket": PAYLOADS, "key": "any/where.eml"}}),
        json.dumps({"s3": {"bucket": MAIL_BUCKET, "key": "ses/abc"}, "recipients": ["a@acme.com"]}),
        json.dumps(
            [
                "com.amazon.sqs.javamessaging.MessageS3Pointer",
                {"s3BucketName": MAIL_BUCKET, "s3Key": "ses/large"},
            ]
        ),
    ],
)
def test_pointers_under_the_locations_are_followed(message: str) -> None:
    job = parse(message)
    assert isinstance(job, Job) and job.s3 is not None


def test_ses_notification_under_the_ses_prefix_is_followed() -> None:
    note = json.loads((FORGED / "ses-s3-action.json").read_text())
    note["receipt"]["action"]["objectKey"] = "ses/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1"
    job = parse(json.dumps(note))
    assert isinstance(job, Job) and job.envelope_recipients == ("intern@acme.com",)


def test_inline_mails_and_skips_need_no_location() -> None:
    assert isinstance(confined(from_sns_message("Subject: x\r\n\r\n", message_id="m"), ()), Job)
    setup = from_sns_message('{"notificationType": "AMAZON_SES_SETUP_NOTIFICATION"}', message_id="m")
    assert isinstance(confined(setup, ()), Skip)


def test_no_locations_refuse_every_pointer() -> None:
    with pytest.raises(InvalidEvent, match="POINTER_LOCATIONS is empty"):
        confine(ObjectRef(PAYLOADS, "k"), (), "sns:m")


def test_a_bucket_whose_name_extends_an_allowed_one_is_another_bucket() -> None:
    with pytest.raises(InvalidEvent):
        confine(ObjectRef(PAYLOADS + "-evil", "k"), LOCATIONS, "sns:m")


@given(key=st.text(min_size=1, max_size=60))
def test_a_mail_bucket_pointer_is_followed_exactly_when_its_key_is_under_the_prefix(key: str) -> None:
    ref = ObjectRef(MAIL_BUCKET, key)
    if key.startswith("ses/"):
        assert confine(ref, LOCATIONS, "o") is ref
    else:
        with pytest.raises(InvalidEvent):
            confine(ref, LOCATIONS, "o")


def test_settings_read_pointer_locations() -> None:
    settings = Settings.from_env({"POINTER_LOCATIONS": " b1/ , b2/ses/,b2/in/ses/,b3"})
    assert settings.pointer_locations == (
        Location("b1", ""),
        Location("b2", "ses/"),
        Location("b2", "in/ses/"),
        Location("b3", ""),
    )
    assert Settings.from_env({}).pointer_locations == ()
    with pytest.raises(ConfigurationError, match="POINTER_LOCATIONS"):
        Settings.from_env({"POINTER_LOCATIONS": "b1/ses/*"})
    with pytest.raises(ConfigurationError, match="POINTER_LOCATIONS"):
        Settings.from_env({"POINTER_LOCATIONS": "/ses/"})
