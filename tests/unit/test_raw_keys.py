"""EventBridge's S3 events carry ``detail.object.key`` raw; both EventBridge paths read it as sent.

S3's EventBridge events do not URL-encode the key, unlike S3's event notifications to SQS, SNS
and Lambda: S3 docs, "EventBridge event message structure"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html); an event captured from
AWS carries ``"key": "raw/health-check/2023-08-08T14:03:40.532432.zip"`` (colons raw, where a
notification has ``%3A``). Powertools' ``S3EventBridgeNotificationObject.key`` applies
``unquote_plus`` anyway, which turns ``inbox/Weekly report+draft.eml`` into a key that does not
exist. The local stack's bridge sends keys raw too, as AWS does. And mail SES received (keys
under SES_KEY_PREFIXES) is never scanned, by the sweep's plan or the arrival path.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultmail.scanner.arrival import is_other_s3_event, object_created
from vaultmail.scanner.plan import Listed, candidate_ids, plan, received_by_ses
from vaultmail_dev.bridge import object_created as bridge_event

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "functional" / "fixtures" / "events"
CREATED = json.loads((FIXTURES / "s3-eventbridge-object-created.json").read_text())
KEYS = [
    "inbox/Weekly report+draft.eml",
    "inbox/a b%20c %.eml",
    "raw/health-check/2023-08-08T14:03:40.532432.zip",
    "boîte/Ünïcødé – été.eml",
]


def _load_s3_app() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "s3_uploader_app_unit", ROOT / "functions/s3_uploader/app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S3_APP = _load_s3_app()


def bridged(key: str) -> dict[str, Any]:
    event = copy.deepcopy(CREATED)
    event["detail"]["object"]["key"] = key
    return event


keys = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80).filter(
    lambda k: not k.endswith("/")
)


@pytest.mark.parametrize("key", KEYS)
def test_the_s3_uploader_and_the_scanner_read_the_key_as_sent(key: str) -> None:
    job = S3_APP._bridged_job(bridged(key))
    assert job.s3.key == key and job.origin.endswith(key)
    assert object_created(bridged(key))[1].key == key


@given(key=keys)
def test_any_key_survives_both_eventbridge_paths(key: str) -> None:
    job = S3_APP._bridged_job(bridged(key))
    assert job is None or job.s3.key == key  # None: an SES setup marker object, skipped
    assert object_created(bridged(key))[1].key == key


def test_s3_notifications_are_still_decoded() -> None:
    record = json.loads((ROOT / "events" / "s3-put-encoded-key.json").read_text())["Records"][0]
    job = S3_APP._record_job(record)
    assert job.s3.key == unquote_plus(record["s3"]["object"]["key"]) != record["s3"]["object"]["key"]


def test_the_local_bridge_sends_the_key_raw_as_s3_does() -> None:
    key = SimpleNamespace(
        name=KEYS[0], size=5, etag='"abc"', version_id=None, last_modified=datetime(2026, 1, 1, tzinfo=UTC)
    )
    bucket = SimpleNamespace(name="b", arn="arn:aws:s3:::b", is_versioned=False)
    event = bridge_event("123456789012", "us-east-1", bucket, "s3:ObjectCreated:Put", key)
    assert event["detail"]["object"]["key"] == KEYS[0]


def test_only_object_created_is_the_scanners() -> None:
    deleted = json.loads((FIXTURES / "s3-eventbridge-object-deleted.json").read_text())
    assert is_other_s3_event(deleted) and not is_other_s3_event(CREATED)
    assert not is_other_s3_event({"vaultmail": "continue-sweep"})


def test_keys_under_ses_key_prefixes_are_never_scanned() -> None:
    assert received_by_ses("inbound/a.eml", ("inbound/",)) and not received_by_ses("out/a.eml", ("inbound/",))
    assert not received_by_ses("inbound/a.eml", ()) and not received_by_ses("a.eml", ("",))
    page = [Listed("inbound/big.eml", 100), Listed("out/big.eml", 100)]
    options: dict[str, Any] = dict(bucket="b", suffixes=(".eml",), threshold=10)
    assert len(candidate_ids(page, **options, skip_prefixes=("inbound/",))) == 1
    decisions = plan(page, **options, records={}, now=0.0, skip_prefixes=("inbound/",))
    assert [d.action for d in decisions] == ["ignore", "notify"]
    assert [d.action for d in plan(page, **options, records={}, now=0.0)] == ["notify", "notify"]
