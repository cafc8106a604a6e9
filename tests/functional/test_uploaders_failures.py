"""The uploaders on the failure paths: what makes a job unique, retries, malformed events, refused keys.

In-process against moto and the emulator, like test_uploaders.py. Events are the samples in
events/ (with the bucket, key, ETag and version that moto assigns) or files in fixtures/events/.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from vaultmail import runtime
from vaultmail.client import UploadClient
from vaultmail.errors import ApiKeyRefused, UploadFailed
from vaultmail.uploader import Uploader
from vaultmail_dev.mails import mail

from .lambdas import EVENTS, FakeContext, LambdaWorld, load_handler

S3_APP = load_handler("s3_uploader")
SNS_APP = load_handler("sns_uploader")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "events"
UNVERSIONED = "vaultmail-unversioned-test"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def notification_record(bucket: str, key: str, put: dict[str, Any], *, version: str | None = None) -> Any:
    """The record of events/s3-put.json for an object moto stored (its ETag, its version if any)."""
    record = sample("s3-put.json")["Records"][0]
    record["s3"]["bucket"] |= {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    obj = {"key": key, "size": 100, "eTag": put["ETag"].strip('"'), "sequencer": "0A1B2C3D4E5F678901"}
    if version or put.get("VersionId"):
        obj["versionId"] = version or put["VersionId"]
    record["s3"]["object"] = obj
    return record


def notification(bucket: str, key: str, put: dict[str, Any], *, version: str | None = None) -> dict[str, Any]:
    return {"Records": [notification_record(bucket, key, put, version=version)]}


def batch_task(bucket: str, key: str, version: str | None = None) -> dict[str, Any]:
    """events/s3-batch-2.0.json for one object, without userArguments (no -r)."""
    event = sample("s3-batch-2.0.json")
    event["job"]["userArguments"] = {}
    event["tasks"][0] |= {
        "taskId": f"task-{uuid.uuid4()}",
        "s3Bucket": bucket,
        "s3Key": key,
        "s3VersionId": version,
    }
    return event


def sns(message: str) -> dict[str, Any]:
    """events/sns-raw-mail.json carrying ``message``, with a message id of its own."""
    event = sample("sns-raw-mail.json")
    event["Records"][0]["Sns"] |= {"Message": message, "MessageId": str(uuid.uuid4())}
    return event


def tags(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def metric_total(out: str, name: str) -> float:
    """Sum of one metric over the EMF documents Powertools printed."""
    total = 0.0
    for line in out.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc and name in doc:
            value = doc[name]
            total += sum(value) if isinstance(value, list) else float(value)
    return total


@pytest.fixture
def unversioned(lambda_world: LambdaWorld) -> Any:
    """A bucket that never had versioning (an external bucket, say): objects have no version id."""
    lambda_world.s3.create_bucket(Bucket=UNVERSIONED)
    return lambda_world.s3


# ---- what makes a job unique: the pinned bytes, not the name ----------------------------------------


def test_sns_pointer_to_a_rewritten_key_archives_the_new_mail(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    w = lambda_world
    pointer = json.dumps({"s3": {"bucket": w.bucket, "key": "in/mail.eml"}})  # no versionId
    w.s3.put_object(Bucket=w.bucket, Key="in/mail.eml", Body=mail("first mail"))
    (first,) = SNS_APP.lambda_handler(sns(pointer), FakeContext())["results"]
    w.s3.put_object(Bucket=w.bucket, Key="in/mail.eml", Body=mail("second, another mail"))
    (second,) = SNS_APP.lambda_handler(sns(pointer), FakeContext())["results"]
    assert first["status"] == second["status"] == "archived"
    assert first["upload_id"] != second["upload_id"]
    assert len({r["sha256"] for r in emulator.records()}) == 2


@pytest.mark.parametrize("via", ["batch task", "notification with version null"])
def test_unversioned_key_written_twice_archives_both_mails(unversioned: Any, emulator: Any, via: str) -> None:
    results = []
    for subject in ("first mail", "second mail at the same key"):
        put = unversioned.put_object(Bucket=UNVERSIONED, Key="in/m.eml", Body=mail(subject))
        if via == "batch task":
            (result,) = S3_APP.lambda_handler(batch_task(UNVERSIONED, "in/m.eml"), FakeContext())["results"]
            assert result["resultCode"] == "Succeeded", result
        else:  # "null" is the version id of objects written while a bucket has no versioning
            (result,) = S3_APP.lambda_handler(
                notification(UNVERSIONED, "in/m.eml", put, version="null"), FakeContext()
            )["results"]
            assert result["status"] == "archived", result
        results.append(result)
    records = emulator.records()
    assert len(records) == 2 and len({r["sha256"] for r in records}) == 2


def test_notification_then_batch_task_for_the_same_object_uploads_once(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    w = lambda_world
    put = w.s3.put_object(Bucket=w.bucket, Key="in/x.eml", Body=mail("archived by the notification"))
    (archived,) = S3_APP.lambda_handler(notification(w.bucket, "in/x.eml", put), FakeContext())["results"]
    assert archived["status"] == "archived"
    (task,) = S3_APP.lambda_handler(batch_task(w.bucket, "in/x.eml"), FakeContext())["results"]
    assert task["resultCode"] == "Succeeded" and task["resultString"] == archived["upload_id"]
    (record,) = emulator.records()
    assert record["requests"] == 1 and record["stores"] == 1


def test_unversioned_object_notified_then_batched_uploads_once(unversioned: Any, emulator: Any) -> None:
    """The event's ETag is bare, HEAD's is quoted: both name the same bytes, so one upload."""
    put = unversioned.put_object(Bucket=UNVERSIONED, Key="in/u.eml", Body=mail("one object, two paths"))
    (archived,) = S3_APP.lambda_handler(notification(UNVERSIONED, "in/u.eml", put), FakeContext())["results"]
    assert archived["status"] == "archived"
    (task,) = S3_APP.lambda_handler(batch_task(UNVERSIONED, "in/u.eml"), FakeContext())["results"]
    assert task["resultCode"] == "Succeeded" and task["resultString"] == archived["upload_id"]
    (record,) = emulator.records()
    assert record["requests"] == 1


def test_idempotency_record_outlives_the_dead_letter_queue(lambda_world: LambdaWorld, emulator: Any) -> None:
    w = lambda_world
    put = w.s3.put_object(Bucket=w.bucket, Key="in/ttl.eml", Body=mail("ttl"))
    S3_APP.lambda_handler(notification(w.bucket, "in/ttl.eml", put), FakeContext())
    (item,) = boto3.client("dynamodb").scan(TableName=w.table)["Items"]
    expires_in = int(item["expiration"]["N"]) - time.time()
    assert abs(expires_in - runtime.IDEMPOTENCY_TTL) < 120
    assert expires_in > 14 * 24 * 3600  # the DLQs keep a message 14 days (tests/unit/test_runtime.py)


# ---- a late event for an object overwritten since -------------------------------------------------


def test_late_event_for_an_overwritten_object_leaves_the_new_objects_tags(
    unversioned: Any, emulator: Any
) -> None:
    old = unversioned.put_object(Bucket=UNVERSIONED, Key="in/m.eml", Body=mail("version A"))
    new = unversioned.put_object(Bucket=UNVERSIONED, Key="in/m.eml", Body=mail("version B"))
    (b,) = S3_APP.lambda_handler(notification(UNVERSIONED, "in/m.eml", new), FakeContext())["results"]
    (a,) = S3_APP.lambda_handler(notification(UNVERSIONED, "in/m.eml", old), FakeContext())["results"]
    assert b["status"] == "archived"
    assert (a["status"], a["reason"]) == ("rejected", "ObjectNotFound")  # A is gone (412 on If-Match)
    assert tags(unversioned, UNVERSIONED, "in/m.eml") == {
        "vaultmail-status": "archived",
        "vaultmail-upload-id": b["upload_id"],
    }
    assert len(emulator.records()) == 1


# ---- S3 Batch Operations: never a function error ------------------------------------------------------


def test_batch_task_already_in_progress_is_a_temporary_failure(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    w = lambda_world
    w.s3.put_object(Bucket=w.bucket, Key="old/a.eml", Body=mail("a"))
    emulator.add_faults([{"target": "uploads", "action": "delay", "seconds": 3, "times": 1}])
    answers: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: answers.update(
            first=S3_APP.lambda_handler(batch_task(w.bucket, "old/a.eml"), FakeContext())
        )
    )
    first.start()
    ddb = boto3.client("dynamodb")
    deadline = time.monotonic() + 30
    while not any(i["status"]["S"] == "INPROGRESS" for i in ddb.scan(TableName=w.table)["Items"]):
        assert time.monotonic() < deadline, "the first invocation never started"
        time.sleep(0.05)
    (second,) = S3_APP.lambda_handler(batch_task(w.bucket, "old/a.eml"), FakeContext())["results"]
    first.join()
    assert second["resultCode"] == "TemporaryFailure"
    assert "IdempotencyAlreadyInProgressError" in second["resultString"]
    assert answers["first"]["results"][0]["resultCode"] == "Succeeded"
    assert emulator.records()[0]["stores"] == 1


def test_batch_state_table_down_is_a_temporary_failure(lambda_world: LambdaWorld, emulator: Any) -> None:
    w = lambda_world
    w.s3.put_object(Bucket=w.bucket, Key="old/b.eml", Body=mail("b"))
    boto3.client("dynamodb").delete_table(TableName=w.table)
    (result,) = S3_APP.lambda_handler(batch_task(w.bucket, "old/b.eml"), FakeContext())["results"]
    assert result["resultCode"] == "TemporaryFailure"
    assert (
        "IdempotencyPersistenceLayerError" in result["resultString"]
        and "state table" in result["resultString"]
    )
    assert "test-key" not in result["resultString"]
    assert emulator.records() == []


def test_batch_missing_setting_is_a_temporary_failure(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATE_TABLE")
    runtime.reset()
    (result,) = S3_APP.lambda_handler(batch_task(lambda_world.bucket, "old/c.eml"), FakeContext())["results"]
    assert result["resultCode"] == "TemporaryFailure"
    assert result["resultString"].startswith("Configuration:") and "STATE_TABLE" in result["resultString"]


def test_unexpected_error_is_a_temporary_failure_in_batch_and_raises_and_counts_otherwise(
    lambda_world: LambdaWorld,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(self: Uploader, job: Any) -> Any:
        raise RuntimeError("internal detail of a bug")

    monkeypatch.setattr(Uploader, "run", broken)
    w = lambda_world
    w.s3.put_object(Bucket=w.bucket, Key="old/d.eml", Body=mail("d"))
    (result,) = S3_APP.lambda_handler(batch_task(w.bucket, "old/d.eml"), FakeContext())["results"]
    assert result["resultCode"] == "TemporaryFailure"
    assert (
        result["resultString"].startswith("RuntimeError") and "internal detail" not in result["resultString"]
    )
    capsys.readouterr()
    with pytest.raises(RuntimeError):  # asynchronous: raise, so Lambda retries, then dead-letters
        SNS_APP.lambda_handler(sns(mail("inline").decode()), FakeContext())
    assert metric_total(capsys.readouterr().out, "UploadFailures") == 1


# ---- malformed events: rejected for good, record by record ------------------------------------------


def test_malformed_s3_record_is_rejected_and_the_valid_one_archived(
    lambda_world: LambdaWorld, emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    w = lambda_world
    event = fixture("s3-one-record-malformed.json")
    put = w.s3.put_object(Bucket=w.bucket, Key="inbox/valid.eml", Body=mail("valid"))
    event["Records"][1]["s3"]["object"] |= {"eTag": put["ETag"].strip('"'), "versionId": put["VersionId"]}
    capsys.readouterr()
    bad, good = S3_APP.lambda_handler(copy.deepcopy(event), FakeContext())["results"]
    assert (bad["status"], bad["reason"]) == ("rejected", "InvalidEvent")
    assert good["status"] == "archived"
    first = capsys.readouterr().out
    assert metric_total(first, "RejectedInvalidEvent") == 1 and metric_total(first, "MailsArchived") == 1
    # the same event again (a retry or a replay): the same answers, nothing uploaded or counted again
    again = S3_APP.lambda_handler(copy.deepcopy(event), FakeContext())["results"]
    assert [r["status"] for r in again] == ["rejected", "archived"]
    second = capsys.readouterr().out
    assert metric_total(second, "MailsRejected") == 0 and metric_total(second, "MailsArchived") == 0
    assert len(emulator.records()) == 1


def test_malformed_sns_record_is_rejected_and_the_valid_one_archived(
    lambda_world: LambdaWorld, emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    bad, good = SNS_APP.lambda_handler(fixture("sns-one-record-malformed.json"), FakeContext())["results"]
    assert (bad["status"], bad["reason"]) == ("rejected", "InvalidEvent")
    assert good["status"] == "archived"
    assert metric_total(capsys.readouterr().out, "RejectedInvalidEvent") == 1
    (record,) = emulator.records()
    assert record["vaults"] == ["amit@acme.com", "ops@acme.com"]


def test_sns_event_sent_to_the_s3_uploader_is_rejected_not_retried(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    (result,) = S3_APP.lambda_handler(sample("sns-raw-mail.json"), FakeContext())["results"]
    assert (result["status"], result["reason"]) == ("rejected", "InvalidEvent")
    assert emulator.records() == []


# ---- retries: a refused key is read again, outcomes are counted once ---------------------------------


def test_refused_key_is_read_again_from_the_secret(lambda_world: LambdaWorld, emulator: Any) -> None:
    sm, arn = boto3.client("secretsmanager"), os.environ["API_KEY_SECRET_ARN"]
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"apiKey": "revoked-key"}))
    event = sns(mail("sent while the key was wrong").decode())
    with pytest.raises(ApiKeyRefused):
        SNS_APP.lambda_handler(event, FakeContext())
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"apiKey": "test-key"}))  # the operator's fix
    (result,) = SNS_APP.lambda_handler(event, FakeContext())["results"]  # Lambda's retry, seconds later
    assert result["status"] == "archived"


def test_retried_event_counts_each_mail_once(
    lambda_world: LambdaWorld,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = lambda_world
    records = []
    for i in range(2):
        put = w.s3.put_object(Bucket=w.bucket, Key=f"multi/{i}.eml", Body=mail(f"mail {i}"))
        records.append(notification_record(w.bucket, f"multi/{i}.eml", put))
    real_run, runs = Uploader.run, Counter[str]()

    def second_fails_once(self: Uploader, job: Any) -> Any:
        runs[job.s3.key] += 1
        if job.s3.key == "multi/1.eml" and runs[job.s3.key] == 1:
            raise UploadFailed("simulated: 503 until the attempts ran out")
        return real_run(self, job)

    monkeypatch.setattr(Uploader, "run", second_fails_once)
    capsys.readouterr()
    with pytest.raises(UploadFailed):
        S3_APP.lambda_handler({"Records": copy.deepcopy(records)}, FakeContext())
    results = S3_APP.lambda_handler({"Records": copy.deepcopy(records)}, FakeContext())[
        "results"
    ]  # the retry
    out = capsys.readouterr().out
    assert [r["status"] for r in results] == ["archived", "archived"]
    assert metric_total(out, "MailsArchived") == 2 and metric_total(out, "UploadFailures") == 1
    assert [r["stores"] for r in emulator.records()] == [1, 1]


def test_a_task_near_the_deadline_is_a_temporary_failure_not_a_timeout(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 12 s left (10 s kept for after the upload), no retry fits: S3 Batch gets
    TemporaryFailure at once, where retries with backoff would have run into Lambda's timeout."""
    w = lambda_world
    w.s3.put_object(Bucket=w.bucket, Key="in/late.eml", Body=mail("near the deadline"))
    emulator.add_faults([{"target": "uploads", "status": 503, "times": 100}])
    waits: list[float] = []  # the work bounded, not timed: no backoff is slept, one request made
    made = UploadClient.__init__

    def recording_sleeps(self: UploadClient, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self._sleep = waits.append

    monkeypatch.setattr(UploadClient, "__init__", recording_sleeps)
    (task,) = S3_APP.lambda_handler(batch_task(w.bucket, "in/late.eml"), FakeContext(12_000))["results"]
    assert waits == []
    assert task["resultCode"] == "TemporaryFailure"
    assert "before the deadline" in task["resultString"]
    assert emulator.hits["uploads"] == 1


def test_a_replay_after_the_object_was_deleted_finds_its_stored_outcome(
    lambda_world: LambdaWorld, emulator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The event names the bytes (version), so no HEAD is needed to key it: the archived outcome
    is served again, not a false 'rejected, object gone'."""
    w = lambda_world
    put = w.s3.put_object(Bucket=w.bucket, Key="in/deleted-later.eml", Body=mail("archived, then deleted"))
    event = notification(w.bucket, "in/deleted-later.eml", put)
    (first,) = S3_APP.lambda_handler(copy.deepcopy(event), FakeContext())["results"]
    w.s3.delete_object(Bucket=w.bucket, Key="in/deleted-later.eml", VersionId=put["VersionId"])
    capsys.readouterr()
    (again,) = S3_APP.lambda_handler(copy.deepcopy(event), FakeContext())["results"]
    out = capsys.readouterr().out
    assert again["status"] == "archived" and again["upload_id"] == first["upload_id"]
    assert metric_total(out, "MailsRejected") == 0 and metric_total(out, "MailsArchived") == 0


def test_an_outcome_whose_save_failed_is_counted_once_when_the_retry_stores_it(
    lambda_world: LambdaWorld,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyPersistenceLayerError
    from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

    w = lambda_world
    put = w.s3.put_object(Bucket=w.bucket, Key="in/save.eml", Body=mail("saved on the second try"))
    event = notification(w.bucket, "in/save.eml", put)
    real_save, saves = BasePersistenceLayer.save_success, []

    def fails_once(self: Any, data: Any, result: Any) -> None:
        saves.append(1)
        if len(saves) == 1:
            raise RuntimeError("simulated: DynamoDB down just after the upload")
        real_save(self, data, result)

    monkeypatch.setattr(BasePersistenceLayer, "save_success", fails_once)
    capsys.readouterr()
    with pytest.raises(IdempotencyPersistenceLayerError):  # raised: the event is retried
        S3_APP.lambda_handler(copy.deepcopy(event), FakeContext())
    # the retry comes after the in-progress record expired (at the first invocation's deadline)
    ddb = boto3.client("dynamodb")
    for item in ddb.scan(TableName=w.table)["Items"]:
        assert item["status"]["S"] == "INPROGRESS"
        ddb.delete_item(TableName=w.table, Key={"id": item["id"]})
    (result,) = S3_APP.lambda_handler(copy.deepcopy(event), FakeContext())["results"]
    out = capsys.readouterr().out
    assert result["status"] == "archived"
    assert metric_total(out, "MailsArchived") == 1 and metric_total(out, "UploadFailures") == 1
    (record,) = emulator.records()  # one upload: the API's Idempotency-Key gave the same uploadId
    assert record["uploadId"] == result["upload_id"]


@pytest.mark.parametrize(
    "event",
    [
        {"invocationSchemaVersion": "2.0", "invocationId": "inv-1", "tasks": []},
        {"invocationSchemaVersion": "2.0", "invocationId": "inv-1", "tasks": [{"taskId": "t-1"}]},
    ],
    ids=["no task", "no job"],
)
def test_a_malformed_batch_invocation_is_recorded_not_a_crash(
    lambda_world: LambdaWorld, capsys: pytest.CaptureFixture[str], event: dict[str, Any]
) -> None:
    capsys.readouterr()
    out = S3_APP.lambda_handler(copy.deepcopy(event), FakeContext())
    logs = capsys.readouterr().out
    results = out["results"]
    if "invocationId" in out:  # a task to answer for: PermanentFailure
        (task,) = results
        assert task["resultCode"] == "PermanentFailure" and "InvalidEvent" in task["resultString"]
    else:
        (rejected,) = results
        assert rejected["status"] == "rejected" and rejected["reason"] == "InvalidEvent"
    assert metric_total(logs, "MailsRejected") == 1


# ---- mail received by SES: envelope recipients, setup objects, client-side encryption ----------------


def ses_s3_action(bucket: str, key: str) -> dict[str, Any]:
    """events/sns-ses-received-s3-action.json naming ``bucket``/``key`` (envelope: ceo@acme.com)."""
    event = sample("sns-ses-received-s3-action.json")
    note = json.loads(event["Records"][0]["Sns"]["Message"])
    note["receipt"]["action"] |= {"bucketName": bucket, "objectKey": key}
    event["Records"][0]["Sns"] |= {"Message": json.dumps(note), "MessageId": str(uuid.uuid4())}
    return event


BCC_ONLY = mail("Invoice 42", sender="vendor@supplier.io", to="sales@supplier.io")  # the vault is only Bcc'd


@pytest.mark.parametrize("s3_first", [True, False])
def test_ses_s3_action_reaches_its_bcc_vault_whichever_uploader_runs_first(
    lambda_world: LambdaWorld, emulator: Any, s3_first: bool
) -> None:
    """Without SES_KEY_PREFIXES both uploaders see the object; the S3 uploader's header-only
    outcome must not stand in for the SES job, which knows the envelope."""
    key = "ses/o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
    put = lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key=key, Body=BCC_ONLY)
    runs = [
        lambda: S3_APP.lambda_handler(notification(lambda_world.bucket, key, put), FakeContext()),
        lambda: SNS_APP.lambda_handler(ses_s3_action(lambda_world.bucket, key), FakeContext()),
    ]
    for run in runs if s3_first else runs[::-1]:
        run()
    (record,) = emulator.records()
    assert record["vaults"] == ["ceo@acme.com"]


def test_ses_key_prefixes_leave_ses_objects_to_the_notification(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SES_KEY_PREFIXES", "ses/, inbound/ses/")
    runtime.reset()
    key = "ses/o3vrnil0e2ic28trm7dfhrc2v0cnbeccl4nbp0g1"
    put = lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key=key, Body=BCC_ONLY)
    event = notification(lambda_world.bucket, key, put)
    assert S3_APP.lambda_handler(event, FakeContext()) == {"results": []}
    assert tags(lambda_world.s3, lambda_world.bucket, key) == {}  # not read, not tagged
    SNS_APP.lambda_handler(ses_s3_action(lambda_world.bucket, key), FakeContext())
    (record,) = emulator.records()
    assert record["vaults"] == ["ceo@acme.com"]
    # S3 Batch Operations still archive what is there (older mails SES never notified us of)
    older = "ses/older-message-id"
    lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key=older, Body=mail("older", to="ops@acme.com"))
    answer = S3_APP.lambda_handler(batch_task(lambda_world.bucket, older), FakeContext())
    assert answer["results"][0]["resultCode"] == "Succeeded"


def test_an_external_buckets_keys_under_ses_prefixes_are_archived(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the mail bucket's own notifications leave SES's prefixes to the SNS uploader: an
    external bucket (EventBridge) has no SES notification on the topic, so its ses/ is archived."""
    monkeypatch.setenv("SES_KEY_PREFIXES", "ses/")
    runtime.reset()
    key = "ses/a-mail-of-an-existing-receipt-bucket"
    lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key=key, Body=mail("external", to="ops@acme.com"))
    event = {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",  # S3's EventBridge event (ev-events.html), key raw
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-20T09:30:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{lambda_world.bucket}"],
        "detail": {"version": "0", "bucket": {"name": lambda_world.bucket}, "object": {"key": key}},
    }
    (result,) = S3_APP.lambda_handler(event, FakeContext())["results"]
    assert result["status"] == "archived"
    assert "ops@acme.com" in emulator.records()[0]["vaults"]


def test_ses_setup_object_and_notification_are_skipped(lambda_world: LambdaWorld, emulator: Any) -> None:
    key = "ses/AMAZON_SES_SETUP_NOTIFICATION"
    put = lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key=key, Body=b"Amazon SES setup test\n")
    event = notification(lambda_world.bucket, key, put)
    assert S3_APP.lambda_handler(event, FakeContext()) == {"results": []}
    event = ses_s3_action(lambda_world.bucket, key)
    note = json.loads(event["Records"][0]["Sns"]["Message"])
    note["mail"]["messageId"] = "AMAZON_SES_SETUP_NOTIFICATION"
    event["Records"][0]["Sns"]["Message"] = json.dumps(note)
    (result,) = SNS_APP.lambda_handler(event, FakeContext())["results"]
    assert result["status"] == "skipped"
    assert emulator.records() == [] and tags(lambda_world.s3, lambda_world.bucket, key) == {}


def test_client_side_encrypted_object_is_rejected_for_what_it_is(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    """An SES S3 action with a KMS key writes ciphertext (S3 encryption client v2 metadata)."""
    key = "ses/encrypted-message-id"
    put = lambda_world.s3.put_object(
        Bucket=lambda_world.bucket,
        Key=key,
        Body=os.urandom(4096),
        Metadata={
            "x-amz-key-v2": "AQIDAHh...",
            "x-amz-cek-alg": "AES/GCM/NoPadding",
            "x-amz-wrap-alg": "kms",
        },
    )
    (result,) = S3_APP.lambda_handler(notification(lambda_world.bucket, key, put), FakeContext())["results"]
    assert (result["status"], result["reason"]) == ("rejected", "ClientSideEncrypted")
    assert "KMS key unset" in result["message"]
    assert tags(lambda_world.s3, lambda_world.bucket, key)["vaultmail-reason"] == "ClientSideEncrypted"
    assert emulator.records() == []
