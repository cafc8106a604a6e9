"""The "Object Created" event the local stack's S3 sends to EventBridge (vaultmail_dev.bridge),
built from moto-like bucket and key objects, against S3's documented example."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from vaultmail_dev.bridge import object_created

EXAMPLE = json.loads(
    (Path(__file__).parents[1] / "functional/fixtures/events/s3-eventbridge-object-created.json").read_text()
)


def shape(node: Any) -> Any:
    return {k: shape(v) for k, v in node.items()} if isinstance(node, dict) else type(node).__name__


def bucket(versioned: bool = True) -> SimpleNamespace:
    return SimpleNamespace(name="mail", arn="arn:aws:s3:::mail", is_versioned=versioned)


def key(name: str = "mail/arrived.eml") -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        size=5,
        etag='"b1946ac92492d2347c6235b4d2611184"',
        version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        last_modified=datetime(2021, 11, 12, 0, 0, 0),
    )


def test_the_fields_and_values_s3_documents() -> None:
    event = object_created("123456789012", "us-east-1", bucket(), "s3:ObjectCreated:Put", key())
    assert shape(event) == shape(EXAMPLE)
    for field in ("version", "detail-type", "source", "account", "time", "region"):
        assert event[field] == EXAMPLE[field]
    assert event["resources"] == ["arn:aws:s3:::mail"]
    obj, expected = event["detail"]["object"], EXAMPLE["detail"]["object"]
    assert {k: obj[k] for k in ("key", "size", "etag", "version-id")} == {
        k: expected[k] for k in ("key", "size", "etag", "version-id")
    }
    assert event["detail"]["reason"] == "PutObject" and event["detail"]["requester"] == "123456789012"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("s3:ObjectCreated:Post", "POST Object"),
        ("s3:ObjectCreated:Copy", "CopyObject"),
        ("s3:ObjectCreated:CompleteMultipartUpload", "CompleteMultipartUpload"),
    ],
)
def test_the_reason_is_the_api_that_created_the_object(name: str, reason: str) -> None:
    assert object_created("1", "us-east-1", bucket(), name, key())["detail"]["reason"] == reason


def test_raw_key_no_version_when_unversioned_fresh_id_growing_sequencer() -> None:
    odd = "inbox/Weekly report + été.eml"
    first = object_created("1", "us-east-1", bucket(versioned=False), "s3:ObjectCreated:Put", key(odd))
    second = object_created("1", "us-east-1", bucket(versioned=False), "s3:ObjectCreated:Put", key(odd))
    assert first["detail"]["object"]["key"] == odd  # not URL-encoded, unlike S3's SQS notifications
    assert "version-id" not in first["detail"]["object"]
    assert first["id"] != second["id"]
    a, b = first["detail"]["object"]["sequencer"], second["detail"]["object"]["sequencer"]
    assert len(a) == len(b) and int(b, 16) > int(a, 16)
