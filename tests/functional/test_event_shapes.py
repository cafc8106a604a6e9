"""Events as AWS publishes them that the functions were never meant to get, and EventBridge's raw
object keys (issue 17.1 and 17.4). Sources of each fixture: tests/functional/fixtures/events/README.md.

* EventBridge's S3 events carry ``detail.object.key`` raw, unlike S3's notifications (which
  URL-encode it): S3 docs, "EventBridge event message structure"
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html), whose examples and
  events captured from AWS leave ``:`` raw (a notification would carry ``%3A``); moto, too,
  sends the raw key to EventBridge and the encoded one to SQS/SNS/Lambda. Powertools'
  ``S3EventBridgeNotificationObject.key`` decodes it anyway: the handlers must not use it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from vaultmail import misdirected
from vaultmail_dev.esm import receive, sqs_event
from vaultmail_dev.mails import mail

from .lambdas import FakeContext, LambdaWorld, load_handler, queue_for

S3_APP = load_handler("s3_uploader")
SNS_APP = load_handler("sns_uploader")
SCANNER_APP = load_handler("oversize_scanner")
FIXTURES = Path(__file__).parent / "fixtures" / "events"
# a space, "+", "%", ":" and non-ASCII letters: each would be read wrong if the key were decoded
RAW_KEYS = [
    "inbox/Weekly report+draft.eml",
    "inbox/100%25 done %.eml",
    "raw/health-check/2023-08-08T14:03:40.532432.eml",
    "inbox/boîte/Ünïcødé – été.eml",
]


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def bridged(w: LambdaWorld, key: str) -> dict[str, Any]:
    """The "Object Created" event S3 sends to EventBridge for an object put into moto."""
    put = w.s3.put_object(Bucket=w.bucket, Key=key, Body=mail(f"raw key {key}"))
    event = fixture("s3-eventbridge-object-created.json")
    event["detail"]["bucket"]["name"] = w.bucket
    event["detail"]["object"] |= {"key": key, "etag": put["ETag"].strip('"'), "version-id": put["VersionId"]}
    return event


def in_queue(w: LambdaWorld, name: str, bodies: list[str]) -> dict[str, Any]:
    url, arn = queue_for(w.sqs, name)
    for body in bodies:
        w.sqs.send_message(QueueUrl=url, MessageBody=body)
    return sqs_event(receive(w.sqs, url), arn)


def test_eventbridge_keys_are_archived_as_sent(lambda_world: LambdaWorld, emulator: Any) -> None:
    w = lambda_world
    direct = S3_APP.lambda_handler(bridged(w, RAW_KEYS[0]), FakeContext())
    assert [r["status"] for r in direct["results"]] == ["archived"]
    event = in_queue(w, "s3-uploader-queue", [json.dumps(bridged(w, key)) for key in RAW_KEYS[1:]])
    assert S3_APP.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert len(emulator.records()) == len(RAW_KEYS)
    for key in RAW_KEYS:
        tags = w.s3.get_object_tagging(Bucket=w.bucket, Key=key)["TagSet"]
        assert {"Key": "vaultmail-status", "Value": "archived"} in tags, key


def test_other_eventbridge_detail_types_are_acknowledged_and_ignored(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    w = lambda_world
    deleted = fixture("s3-eventbridge-object-deleted.json")
    deleted["detail"]["bucket"]["name"] = w.bucket
    assert S3_APP.lambda_handler(deleted, FakeContext()) == {"results": []}
    event = in_queue(w, "s3-uploader-queue", [json.dumps(deleted)])
    assert S3_APP.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert emulator.hits["uploads"] == 0


@pytest.mark.parametrize(
    ("app", "function"), [(SNS_APP, "sns_uploader"), (S3_APP, "s3_uploader")], ids=["sns", "s3"]
)
def test_an_ses_lambda_action_is_said_for_what_it_is_and_counted_apart(
    lambda_world: LambdaWorld,
    emulator: Any,
    app: Any,
    function: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = app.lambda_handler(fixture("ses-lambda-action.json"), FakeContext())
    assert answer["results"][0]["status"] == "ignored"
    assert misdirected.USE_INSTEAD[function] in caplog.text and "Lambda action" in caplog.text
    metrics = capsys.readouterr().out  # the metrics Powertools flushes at the end of the invocation
    assert '"SesLambdaActionEvents":[1.0]' in metrics.replace(" ", "")
    assert "MailsRejected" not in metrics and emulator.hits["uploads"] == 0


def test_a_subscription_confirmation_in_the_queue_logs_its_url_and_confirms_nothing(
    lambda_world: LambdaWorld,
    emulator: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    confirmation = fixture("sns-subscription-confirmation.json")
    event = in_queue(lambda_world, "sns-uploader-queue", [json.dumps(confirmation)])
    assert SNS_APP.lambda_handler(event, FakeContext()) == {"batchItemFailures": []}
    assert any(getattr(r, "subscribe_url", None) == confirmation["SubscribeURL"] for r in caplog.records)
    assert "MailsRejected" not in capsys.readouterr().out


def test_a_batch_task_whose_bucket_arn_can_never_be_valid_fails_for_good(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    answer = S3_APP.lambda_handler(fixture("s3-batch-1.0-bad-bucket-arn.json"), FakeContext())
    (result,) = answer["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"].startswith("InvalidEvent:") and "regex" not in result["resultString"]
    other = copy.deepcopy(fixture("s3-batch-1.0-bad-bucket-arn.json"))
    other["tasks"][0]["s3BucketArn"] = "arn:aws:sns:us-east-1:123456789012:topic"
    (result,) = S3_APP.lambda_handler(other, FakeContext())["results"]
    assert result["resultCode"] == "PermanentFailure"
