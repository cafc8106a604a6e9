"""The oversize scanner's arrival path on the built stack: S3 "Object Created" events, as S3 sends
them to EventBridge, matched by the template's OversizeMailRule and queued for the scanner;
the backstop sweep afterwards tells nobody again (the same claims)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from vaultmail_dev.mails import mail, write_big_mail
from vaultmail_dev.stack import LocalStack

pytestmark = pytest.mark.e2e

RULE = "vaultmail-OversizeMailRule"
FIXTURE = (
    Path(__file__).parents[1] / "functional" / "fixtures" / "events" / "s3-eventbridge-object-created.json"
)


def threshold(stack: LocalStack) -> int:
    return int(stack.parameters["SizeThresholdBytes"])


def notices(stack: LocalStack, subject: str) -> list[dict[str, Any]]:
    return [m for m in stack.sent_emails() if subject in m["subject"]]


def events_of(stack: LocalStack, key: str) -> list[dict[str, Any]]:
    return [e for e in stack.bridge.events if e["detail"]["object"]["key"] == key]


def scanner_messages(stack: LocalStack) -> int:
    return stack.source("oversize_scanner").stats.messages


def shape(node: Any) -> Any:
    """The field names of an event, nested (values left out)."""
    return {k: shape(v) for k, v in node.items()} if isinstance(node, dict) else type(node).__name__


@pytest.fixture(autouse=True)
def quiet(stack: LocalStack) -> None:
    stack.pump()  # what an earlier test left is delivered before this one counts
    stack.emulator.reset()


def test_an_oversize_mail_is_noticed_on_arrival_and_not_again_by_the_sweep(
    stack: LocalStack, tmp_path: Path
) -> None:
    subject, key = "Arrival: fourteen MiB", "outbound/2026/12/01/arrival-14mib.eml"
    size = threshold(stack) + 4 * 1024 * 1024
    path = write_big_mail(tmp_path / "big.eml", size, subject=subject, to="Client <client@partner.net>")
    queued = scanner_messages(stack)
    stack.client("s3").upload_file(str(path), stack.bucket(), key)  # multipart, as a big upload is
    stack.pump()  # no sweep runs before the notice is checked

    (event,) = events_of(stack, key)
    assert shape(event) == shape(json.loads(FIXTURE.read_text()))  # the fields S3 sends, no more
    assert event["detail"]["object"]["size"] == size
    assert event["detail"]["reason"] == "CompleteMultipartUpload"
    assert event["detail"]["bucket"]["name"] == stack.bucket()
    assert stack.bridge.errors == []
    assert scanner_messages(stack) == queued + 1  # the rule's one message, through the SQS source

    (notice,) = notices(stack, subject)
    assert [a for field in notice["destinations"].values() for a in field] == ["client@partner.net"]
    link = re.search(r'href="(https?://[^"]+)"', notice["body"])
    assert link is not None
    fetched = stack.fetch(html.unescape(link.group(1)))
    assert fetched.status_code == 200 and len(fetched.content) == size

    swept = stack.run_scanner()  # the backstop sweep afterwards: the arrival's claim holds
    assert swept["notified"] == 0 and swept["failed"] == 0
    assert len(notices(stack, subject)) == 1


def test_a_small_mail_is_not_noticed(stack: LocalStack) -> None:
    subject, key = "Arrival: small", "inbox/2026/12/01/small.eml"
    matched, queued = stack.bridge.matched[RULE], scanner_messages(stack)
    stack.client("s3").put_object(Bucket=stack.bucket(), Key=key, Body=mail(subject))
    stack.pump()

    (event,) = events_of(stack, key)  # S3 told EventBridge; the rule did not match
    assert event["detail"]["reason"] == "PutObject" and event["detail"]["object"]["size"] < threshold(stack)
    assert stack.bridge.matched[RULE] == matched and scanner_messages(stack) == queued
    assert notices(stack, subject) == []
    swept = stack.run_scanner()
    assert swept["notified"] == 0
    assert notices(stack, subject) == []


def test_an_oversize_object_of_another_suffix_never_reaches_the_scanner_queue(
    stack: LocalStack, tmp_path: Path
) -> None:
    subject, key = "Arrival: not a mail suffix", "outbound/2026/12/01/export.txt"
    size = threshold(stack) + 1
    path = write_big_mail(tmp_path / "big.txt", size, subject=subject)
    matched, queued = stack.bridge.matched[RULE], scanner_messages(stack)
    stack.client("s3").upload_file(str(path), stack.bucket(), key)
    stack.pump()

    (event,) = events_of(stack, key)
    assert event["detail"]["object"]["size"] == size  # over the threshold: only the suffix differs
    assert stack.bridge.matched[RULE] == matched and scanner_messages(stack) == queued
    assert stack.bridge.errors == []
    assert notices(stack, subject) == []
