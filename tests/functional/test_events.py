"""The sample events in events/, run through the handlers as they are, on moto and the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest

from vaultmail_dev.mails import mail

from .lambdas import FakeContext, LambdaWorld, load_handler

EVENTS = Path(__file__).resolve().parents[2] / "events"
BUCKET = "vaultmail-mail-123456789012-us-east-1"
S3_APP = load_handler("s3_uploader")
SNS_APP = load_handler("sns_uploader")


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def bucket(lambda_world: LambdaWorld, monkeypatch: pytest.MonkeyPatch) -> Any:
    # the samples point anywhere in this bucket: allow it (a deployed stack allows the payload
    # bucket and the mail bucket's SES prefixes only: test_trust_boundaries.py)
    monkeypatch.setenv("POINTER_LOCATIONS", f"{BUCKET}/")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return s3


def put(s3: Any, key: str, body: bytes) -> dict[str, Any]:
    return s3.put_object(Bucket=BUCKET, Key=key, Body=body)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "statuses", "vaults"),
    [
        ("sns-raw-mail.json", ["archived"], ["amit@acme.com", "ops@acme.com"]),
        ("sns-envelope-mail.json", ["archived"], ["amit@acme.com", "legal@acme.com", "ops@acme.com"]),
        ("sns-envelope-base64.json", ["archived"], ["amit@acme.com", "ops@acme.com"]),
        ("sns-envelope-s3.json", ["archived"], ["amit@acme.com", "ops@acme.com", "records@acme.com"]),
        (
            "sns-message-attributes.json",
            ["archived"],
            ["amit@acme.com", "hr@acme.com", "legal@acme.com", "ops@acme.com"],
        ),
        ("sns-ses-received-sns-action.json", ["archived"], ["ceo@acme.com"]),
        ("sns-ses-received-utf8.json", ["archived"], ["ceo@acme.com"]),
        ("sns-ses-received-s3-action.json", ["archived"], ["ceo@acme.com"]),
        ("sns-ses-setup.json", ["skipped"], None),
        ("sns-extended-pointer.json", ["archived"], ["amit@acme.com", "ops@acme.com"]),
        ("sns-extended-legacy.json", ["archived"], ["amit@acme.com", "ops@acme.com"]),
        ("sns-multi-record.json", ["archived"] * 3, ["amit@acme.com", "ops@acme.com"]),
    ],
)
def test_sns_samples(
    bucket: Any, emulator: Any, name: str, statuses: list[str], vaults: list[str] | None
) -> None:
    sample = event(name)
    for record in sample["Records"]:  # put the objects the messages point to
        message = record["Sns"]["Message"]
        data = json.loads(message) if message.startswith(("{", "[")) else {}
        if isinstance(data, dict) and "s3" in data:
            put(bucket, data["s3"]["key"], mail("pointed", to="ops@acme.com"))
        elif isinstance(data, dict) and data.get("receipt", {}).get("action", {}).get("type") == "S3":
            put(
                bucket,
                data["receipt"]["action"]["objectKey"],
                mail("ses s3", sender="v@supplier.io", to="x@supplier.io"),
            )
        elif isinstance(data, list):
            put(bucket, data[1]["s3Key"], mail("big one", attachment_bytes=300_000))
    results = SNS_APP.lambda_handler(sample, FakeContext())["results"]
    assert [r["status"] for r in results] == statuses
    records = emulator.records()
    assert len(records) == statuses.count("archived")
    if vaults is not None:
        assert sorted(records[0]["vaults"]) == vaults


def with_object(s3: Any, sample: dict[str, Any], body: bytes) -> dict[str, Any]:
    """Put the object an S3 notification names; use moto's version id and ETag."""
    obj = sample["Records"][0]["s3"]["object"]
    if obj["size"] == 0:
        put(s3, unquote_plus(obj["key"]), b"")
        return sample
    answer = put(s3, unquote_plus(obj["key"]), body)
    obj.update(size=len(body), eTag=answer["ETag"].strip('"'), versionId=answer["VersionId"])
    return sample


def test_s3_put_samples(bucket: Any, emulator: Any) -> None:
    plain = with_object(bucket, event("s3-put.json"), mail("plain"))
    odd = with_object(bucket, event("s3-put-encoded-key.json"), mail("odd key"))
    marker = with_object(bucket, event("s3-folder-marker.json"), b"")
    assert S3_APP.lambda_handler(plain, FakeContext())["results"][0]["status"] == "archived"
    assert S3_APP.lambda_handler(odd, FakeContext())["results"][0]["status"] == "archived"
    assert S3_APP.lambda_handler(marker, FakeContext())["results"] == []
    tags = bucket.get_object_tagging(Bucket=BUCKET, Key="inbox/Weekly report + été.eml")["TagSet"]
    assert {"Key": "vaultmail-status", "Value": "archived"} in tags
    assert len(emulator.records()) == 2


def test_s3_eventbridge_sample(lambda_world: LambdaWorld, emulator: Any) -> None:
    s3 = boto3.client("s3")
    sample = event("s3-eventbridge-object-created.json")
    detail = sample["detail"]
    s3.create_bucket(Bucket=detail["bucket"]["name"])
    answer = s3.put_object(Bucket=detail["bucket"]["name"], Key=detail["object"]["key"], Body=mail("bridged"))
    detail["object"].update(etag=answer["ETag"].strip('"'), **{"version-id": None})
    assert S3_APP.lambda_handler(sample, FakeContext())["results"][0]["status"] == "archived"


def test_s3_eventbridge_unversioned_sample(lambda_world: LambdaWorld, emulator: Any) -> None:
    """An unversioned bucket's event has no "version-id" at all: the object is pinned by its ETag."""
    s3 = boto3.client("s3")
    sample = event("s3-eventbridge-object-created-unversioned.json")
    obj, bucket = sample["detail"]["object"], sample["detail"]["bucket"]["name"]
    assert "version-id" not in obj
    s3.create_bucket(Bucket=bucket)  # never versioned
    answer = s3.put_object(Bucket=bucket, Key=obj["key"], Body=mail("bridged, unversioned"))
    obj.update(etag=answer["ETag"].strip('"'))
    (result,) = S3_APP.lambda_handler(sample, FakeContext())["results"]
    assert result["status"] == "archived", result
    tags = s3.get_object_tagging(Bucket=bucket, Key=obj["key"])["TagSet"]
    assert {"Key": "vaultmail-status", "Value": "archived"} in tags
    assert len(emulator.records()) == 1


@pytest.mark.parametrize("name", ["s3-batch-1.0.json", "s3-batch-2.0.json"])
def test_s3_batch_samples(bucket: Any, emulator: Any, name: str) -> None:
    sample = event(name)
    task = sample["tasks"][0]
    put(bucket, task["s3Key"], mail("from 2019", sender="old@other.net", to="x@other.net"))
    (result,) = S3_APP.lambda_handler(sample, FakeContext())["results"]
    # 2.0 names a vault in userArguments (-r); 1.0 has none and the mail has no primary recipient
    assert result["resultCode"] == ("Succeeded" if name.endswith("2.0.json") else "PermanentFailure")
    assert result["taskId"] == task["taskId"]


def test_sqs_sns_sample(bucket: Any, emulator: Any) -> None:
    """The SNS uploader's SQS shape: both envelopes archived, the second with its -r attributes."""
    sample = event("sqs-sns-notifications.json")
    assert SNS_APP.lambda_handler(sample, FakeContext()) == {"batchItemFailures": []}
    # the same mail twice (the samples share it): two slot requests, one upload id (Idempotency-Key)
    (record,) = emulator.records()
    assert record["requests"] == 2
    assert sorted(record["vaults"]) == ["amit@acme.com", "hr@acme.com", "legal@acme.com", "ops@acme.com"]


def test_sqs_s3_sample(bucket: Any, emulator: Any) -> None:
    """The S3 uploader's SQS shape: the test event skipped, the notification and bridged event archived."""
    sample = event("sqs-s3-events.json")
    bodies = [json.loads(r["body"]) for r in sample["Records"]]
    put_record = with_object(bucket, bodies[1], mail("queued notification"))
    detail = bodies[2]["detail"]
    answer = put(bucket, detail["object"]["key"], mail("queued bridged"))
    detail["object"].update(etag=answer["ETag"].strip('"'), **{"version-id": answer["VersionId"]})
    detail["bucket"]["name"] = BUCKET
    sample["Records"][1]["body"] = json.dumps(put_record)
    sample["Records"][2]["body"] = json.dumps(bodies[2])
    assert S3_APP.lambda_handler(sample, FakeContext()) == {"batchItemFailures": []}
    assert len(emulator.records()) == 2
