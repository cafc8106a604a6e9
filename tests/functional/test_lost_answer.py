"""A store whose answer is lost (issue 11, item 7): the mail is stored, the client never hears
it, and every retry (the client's own, or a whole retried invocation, on the same or on a fresh
one-use slot) names the same object, so each vault holds the mail exactly once."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from vaultmail import api, runtime
from vaultmail.archive import upload_mail
from vaultmail.client import UploadClient
from vaultmail.errors import UploadFailed
from vaultmail.settings import Settings
from vaultmail_dev.emulator import Emulator
from vaultmail_dev.mails import mail

from .lambdas import EVENTS, FakeContext, LambdaWorld, load_handler

S3_APP = load_handler("s3_uploader")
MAIL = mail("lost answer", to="ops@acme.com", cc="team@example.org")
VAULTS = ["amit@acme.com", "ops@acme.com", "team@example.org"]
# the mail stored, then the answer lost: a reset, or a delay past the client's read timeout.
# The timeout leaves a busy machine time for a normal answer (the retry's), the delay is far
# past it: the outcome does not depend on how loaded the machine is.
READ_TIMEOUT = 3.0
LOST = {
    "reset": {"target": "slot", "afterStore": True, "action": "reset"},
    "read timeout": {"target": "slot", "afterStore": True, "action": "delay", "seconds": 4 * READ_TIMEOUT},
}


def settings(emu: Emulator) -> Settings:
    return Settings(primary_domains=("acme.com", "example.org"), api_endpoint_url=emu.url)


def client(emu: Emulator, *, attempts: int = 5) -> UploadClient:
    return UploadClient(
        emu.url, "test-key", read_timeout=READ_TIMEOUT, max_attempts=attempts, sleep=lambda _: None
    )


def stored_once(emu: Emulator, data: bytes = MAIL) -> None:
    """Exactly one object per vault, under the name derived from the mail."""
    name = api.file_name_for(hashlib.sha256(data).hexdigest())
    assert emu.vaults() == {v: [f"{v.rpartition('@')[2]}/{v}/{name}"] for v in VAULTS}


@pytest.mark.parametrize("lost", sorted(LOST))
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_the_clients_own_retry_overwrites_its_object(emulator_factory: Any, method: str, lost: str) -> None:
    emu = emulator_factory(slot_method=method)
    emu.add_faults([LOST[lost]])
    upload_mail(MAIL, settings=settings(emu), client=client(emu))
    (record,) = emu.records()
    assert (record["requests"], record["stores"]) == (1, 2)  # stored twice, on the same slot
    stored_once(emu)


@pytest.mark.parametrize("one_use", [False, True], ids=["reusable slots", "one-use slots"])
def test_a_whole_retried_upload_overwrites_its_object(emulator_factory: Any, one_use: bool) -> None:
    """Every attempt of the first run loses its answer (a one-use slot refuses the client's retry
    with 403); the run fails, and the retried run stores under the same name."""
    emu = emulator_factory(one_use_slots=one_use)
    emu.add_faults([{**LOST["reset"], "times": 2}])
    with pytest.raises(UploadFailed):
        upload_mail(MAIL, settings=settings(emu), client=client(emu, attempts=2))
    upload_mail(MAIL, settings=settings(emu), client=client(emu, attempts=2))
    stores = [r["stores"] for r in emu.records()]
    assert stores == ([1, 1] if one_use else [3])  # one-use: a fresh upload per step 1
    assert len({r["fileName"] for r in emu.records()}) == 1
    stored_once(emu)


def batch_task(bucket: str, key: str, version: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / "s3-batch-2.0.json").read_text())
    event["job"]["userArguments"] = {}
    event["tasks"][0] |= {"s3Bucket": bucket, "s3Key": key, "s3VersionId": version}
    return event


@pytest.mark.parametrize("one_use", [False, True], ids=["reusable slots", "one-use slots"])
def test_a_retried_invocation_overwrites_its_object(
    lambda_world: LambdaWorld, emulator_factory: Any, monkeypatch: pytest.MonkeyPatch, one_use: bool
) -> None:
    """An S3 Batch Operations task whose stores all lose their answers is a TemporaryFailure;
    S3 retries the task, and the retried invocation stores the mail under the same name."""
    emu = emulator_factory(one_use_slots=one_use)
    monkeypatch.setenv("API_ENDPOINT_URL", emu.url)
    runtime.reset()
    w = lambda_world
    put = w.s3.put_object(Bucket=w.bucket, Key="old/lost.eml", Body=MAIL)
    event = batch_task(w.bucket, "old/lost.eml", put["VersionId"])
    emu.add_faults([{**LOST["reset"], "times": 2}])  # API_MAX_ATTEMPTS is 2 here
    (first,) = S3_APP.lambda_handler(event, FakeContext())["results"]
    assert first["resultCode"] == "TemporaryFailure"
    (again,) = S3_APP.lambda_handler(event, FakeContext())["results"]
    assert again["resultCode"] == "Succeeded"
    assert sum(r["stores"] for r in emu.records()) == (2 if one_use else 3)
    stored_once(emu)
