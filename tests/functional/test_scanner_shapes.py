"""The scanner's handler on shapes it was never meant to get, raw EventBridge keys, and mail SES
received (issue 17.1, 17.2, 17.4). Fixture sources: tests/functional/fixtures/events/README.md."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .lambdas import FakeContext
from .test_event_shapes import RAW_KEYS, fixture
from .test_scanner import SMALL_THRESHOLD, World, make_mail, world
from .test_scanner_arrival import app, created, sqs_batch

__all__ = ["app", "world"]  # the fixtures


def test_raw_eventbridge_keys_are_noticed_as_sent(world: World, app: Any) -> None:
    keys = [f"mail/{key}" for key in RAW_KEYS]  # the world scans mail/
    for i, key in enumerate(keys):
        world.put(key, make_mail(2 * SMALL_THRESHOLD, to=f"reader{i}@acme.com"))
    answer = app.lambda_handler(sqs_batch(*(created(world, k) for k in keys)), FakeContext(60_000))
    assert answer == {"batchItemFailures": []}
    notified = sorted(n["Destination"]["ToAddresses"][0] for n in app.ses.notices())
    assert notified == [f"reader{i}@acme.com" for i in range(len(RAW_KEYS))]


def test_an_empty_batch_and_an_ses_lambda_action_do_not_crash_it(world: World, app: Any) -> None:
    assert app.lambda_handler({"Records": []}, FakeContext(60_000)) == {"batchItemFailures": []}
    answer = app.lambda_handler(fixture("ses-lambda-action.json"), FakeContext(60_000))
    assert answer["results"][0]["status"] == "ignored" and app.ses.sent == []


def test_an_object_deleted_event_is_ignored_without_an_error(
    world: World, app: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    deleted = fixture("s3-eventbridge-object-deleted.json")
    assert app.lambda_handler(sqs_batch(deleted), FakeContext(60_000)) == {"batchItemFailures": []}
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert all("InvalidEvents" not in m for m in metrics)  # acknowledged, not counted as a bad event
    assert app.ses.sent == []


def test_mail_ses_received_is_never_scanned_on_arrival_or_by_the_sweep(world: World, app: Any) -> None:
    world.settings = world.settings.with_overrides(ses_key_prefixes=("mail/inbound/",))
    world.put("mail/inbound/received.eml", make_mail(2 * SMALL_THRESHOLD, to="bob@acme.com"))
    world.put("mail/outbound/bounced.eml", make_mail(2 * SMALL_THRESHOLD, to="carol@acme.com"))
    answer = app.lambda_handler(sqs_batch(created(world, "mail/inbound/received.eml")), FakeContext(60_000))
    assert answer == {"batchItemFailures": []} and app.ses.sent == [] and app.s3.read == {}
    app.lambda_handler({"detail-type": "Scheduled Event", "source": "aws.events"}, FakeContext(60_000))
    notified = [n["Destination"]["ToAddresses"] for n in app.ses.notices()]
    assert notified == [["carol@acme.com"]]  # the sweep noticed the other one only
