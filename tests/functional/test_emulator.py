"""The Active Store emulator over plain HTTP: the v1 contract, S3-like slots, faults, control."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from vaultmail_dev.emulator import Emulator
from vaultmail_dev.servers import MotoHandle, spawn_emulator

BUCKET = "vaultastic-active-store"
KEY = "test-key"
MAIL = (
    b"From: Amit <amit@acme.com>\r\nTo: ops@acme.com, team@example.org\r\n"
    b"Subject: quarterly\r\nMessage-ID: <q1@acme.com>\r\n\r\n"
    # lines that look like multipart delimiters must survive the form parser
    + b"body line\r\n--not-a-boundary\r\n" * 2000
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def slot_body(mail: bytes = MAIL, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "domains": ["acme.com", "example.org"],
        "vaults": ["amit@acme.com", "team@example.org"],
        "sender": "amit@acme.com",
        "size": len(mail),
        "sha256": sha(mail),
        "messageId": "<q1@acme.com>",
        "fileName": f"{uuid.uuid4()}.eml",
    }
    body.update(overrides)
    return body


def ask(emu: Emulator, body: Any, *, key: str | None = KEY, idem: str | None = "auto",
        **kwargs: Any) -> requests.Response:
    """Step 1; ``idem="auto"`` sends the body's sha256 as the Idempotency-Key."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["x-api-key"] = key
    if idem == "auto":
        idem = body.get("sha256") if isinstance(body, dict) else None
    if idem is not None:
        headers["Idempotency-Key"] = idem
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    kwargs.setdefault("timeout", 10)
    return requests.post(emu.url + "/v1/uploads", data=data, headers=headers, **kwargs)


def slot(emu: Emulator, mail: bytes = MAIL, **overrides: Any) -> dict[str, Any]:
    response = ask(emu, slot_body(mail, **overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


def form(parts: Sequence[tuple[str, bytes, str | None]], boundary: str = "b0undary") -> bytes:
    """multipart/form-data of (name, value, filename) parts, built by hand."""
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: message/rfc822\r\n"
        out += b"\r\n" + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def post_form(upload: dict[str, Any], parts: Sequence[tuple[str, bytes, str | None]],
              **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", 10)
    return requests.post(upload["url"], data=form(parts),
                         headers={"Content-Type": "multipart/form-data; boundary=b0undary"}, **kwargs)


def field_parts(upload: dict[str, Any]) -> list[tuple[str, bytes, str | None]]:
    return [(name, str(value).encode(), None) for name, value in upload["fields"].items()]


def send_post(upload: dict[str, Any], data: bytes = MAIL) -> requests.Response:
    return post_form(upload, [*field_parts(upload), ("file", data, "mail.eml")])


def send_put(upload: dict[str, Any], data: bytes = MAIL,
             headers: dict[str, str] | None = None) -> requests.Response:
    return requests.put(upload["url"], data=data, headers={**upload["headers"], **(headers or {})},
                        timeout=10)


def error_code(response: requests.Response) -> str:
    if response.headers.get("Content-Type") == "application/xml":
        return response.text.split("<Code>")[1].split("</Code>")[0]
    return str(response.json()["code"])


@pytest.fixture
def s3(aws_env: dict[str, str]) -> Any:
    return boto3.client("s3")


# -- step 1 ------------------------------------------------------------------------------------


def test_post_slot_follows_the_contract(emulator: Emulator) -> None:
    answer = slot(emulator)
    upload = answer["upload"]
    assert upload["method"] == "POST"
    assert upload["url"] == f"{emulator.url}/slots/{answer['uploadId']}"
    assert set(upload["fields"]) == {"key", "x-vaultmail-expires", "x-vaultmail-signature"}
    assert upload["fields"]["key"].startswith("acme.com/amit@acme.com/")
    assert int(upload["fields"]["x-vaultmail-expires"]) > time.time()


def test_put_slot_follows_the_contract(emulator_put: Emulator) -> None:
    answer = slot(emulator_put)
    upload = answer["upload"]
    assert upload["method"] == "PUT"
    query = urlsplit(upload["url"]).query
    assert upload["url"].startswith(f"{emulator_put.url}/slots/{answer['uploadId']}?")
    assert "expires=" in query and "signature=" in query
    assert upload["headers"] == {"Content-Type": "message/rfc822", "x-amz-meta-sha256": sha(MAIL)}


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_missing_or_wrong_api_key_is_401(emulator: Emulator, key: str | None) -> None:
    response = ask(emulator, slot_body(), key=key)
    assert response.status_code == 401
    assert response.json()["code"] == "Unauthorized"
    assert emulator.records() == []


@pytest.mark.parametrize(
    ("body", "idem"),
    [
        pytest.param(b"{not json", "auto", id="bad-json"),
        pytest.param(b"[1, 2]", "auto", id="not-an-object"),
        pytest.param({k: v for k, v in slot_body().items() if k != "sender"}, "auto", id="missing-key"),
        pytest.param(slot_body(vaults=[]), "auto", id="empty-vaults"),
        pytest.param(slot_body(domains="acme.com"), "auto", id="domains-not-a-list"),
        pytest.param(slot_body(size=0), "auto", id="size-zero"),
        pytest.param(slot_body(size="12"), "auto", id="size-a-string"),
        pytest.param(slot_body(sha256=sha(MAIL).upper()), "auto", id="sha-uppercase"),
        pytest.param(slot_body(fileName="mail.txt"), "auto", id="not-eml"),
        pytest.param(slot_body(fileName="../x.eml"), "auto", id="path-in-file-name"),
        pytest.param(slot_body(messageId=7), "auto", id="message-id-a-number"),
        pytest.param(slot_body(), None, id="no-idempotency-key"),
        pytest.param(slot_body(), sha(b"other"), id="idempotency-key-mismatch"),
    ],
)
def test_bad_requests_are_400(emulator: Emulator, body: Any, idem: str | None) -> None:
    response = ask(emulator, body, idem=idem)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "BadRequest"
    assert response.json()["message"]


def test_over_50_mb_is_413(emulator: Emulator) -> None:
    response = ask(emulator, slot_body(size=52_428_801))
    assert response.status_code == 413
    assert response.json()["code"] == "TooLarge"
    assert ask(emulator, slot_body(size=52_428_800)).status_code == 201


@pytest.mark.parametrize(
    ("vaults", "domains", "code"),
    [
        (["bob@stranger.net"], ["acme.com"], "NoPrimaryDomainRecipient"),
        (["not-an-address"], ["acme.com"], "NoPrimaryDomainRecipient"),
        (["amit@acme.com", "bob@stranger.net"], ["acme.com"], "InvalidRecipient"),
        (["amit@acme.com", "broken@@acme.com"], ["acme.com"], "InvalidRecipient"),
        (["amit@acme.com", "team@example.org"], ["acme.com"], "InvalidRecipient"),  # not listed
    ],
)
def test_recipients_are_checked_with_422(
    emulator: Emulator, vaults: list[str], domains: list[str], code: str
) -> None:
    response = ask(emulator, slot_body(vaults=vaults, domains=domains))
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert emulator.records() == []


# -- a whole upload ----------------------------------------------------------------------------


def test_post_upload_lands_in_every_vault(emulator: Emulator, s3: Any) -> None:
    answer = slot(emulator, vaults=["amit@acme.com", "Team@EXAMPLE.org"])
    response = send_post(answer["upload"])
    assert response.status_code == 204, response.text
    name = answer["upload"]["fields"]["key"].rsplit("/", 1)[1]
    keys = [f"acme.com/amit@acme.com/{name}", f"example.org/Team@example.org/{name}"]
    for key in keys:
        obj = s3.get_object(Bucket=BUCKET, Key=key)
        assert obj["Body"].read() == MAIL
        assert obj["ContentType"] == "message/rfc822"
    assert emulator.vaults() == {"Team@example.org": [keys[1]], "amit@acme.com": [keys[0]]}
    (record,) = emulator.records()
    assert record["keys"] == keys and record["stores"] == 1 and record["requests"] == 1
    assert record["uploadId"] == answer["uploadId"] and record["sha256"] == sha(MAIL)


def test_put_upload_lands_in_every_vault(emulator_put: Emulator, s3: Any) -> None:
    answer = slot(emulator_put, vaults=["ops@acme.com"], domains=["acme.com"])
    response = send_put(answer["upload"])
    assert response.status_code == 200, response.text
    (record,) = emulator_put.records()
    (key,) = record["keys"]
    assert key == f"acme.com/ops@acme.com/{record['fileName']}"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == MAIL


def test_a_big_mail_streams_through_the_form_parser(emulator: Emulator, s3: Any) -> None:
    big = MAIL + bytes(range(256)) * 20_000  # ~5 MB, every byte value, many read chunks
    answer = slot(emulator, big, vaults=["amit@acme.com"], domains=["acme.com"])
    assert send_post(answer["upload"], big).status_code == 204
    (record,) = emulator.records()
    assert s3.get_object(Bucket=BUCKET, Key=record["keys"][0])["Body"].read() == big


def test_same_idempotency_key_same_upload_and_stores_are_counted(emulator: Emulator) -> None:
    first, second = slot(emulator), slot(emulator)
    assert first["uploadId"] == second["uploadId"]
    assert send_post(first["upload"]).status_code == 204
    assert send_post(second["upload"]).status_code == 204
    other = slot(emulator, MAIL + b"!")
    assert other["uploadId"] != first["uploadId"]
    records = {r["uploadId"]: r for r in emulator.records()}
    assert records[first["uploadId"]]["requests"] == 2
    assert records[first["uploadId"]]["stores"] == 2
    assert records[other["uploadId"]]["stores"] == 0


# -- the slot behaves like S3 ------------------------------------------------------------------


def chunks(data: bytes) -> Iterator[bytes]:
    yield data[:100]
    yield data[100:]


def test_chunked_transfer_is_501_on_both_slot_kinds(emulator: Emulator, emulator_put: Emulator) -> None:
    upload = slot(emulator)["upload"]
    response = requests.post(upload["url"], data=chunks(form([*field_parts(upload),
                                                              ("file", MAIL, "m.eml")])),
                             headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
                             timeout=10)
    assert response.status_code == 501 and error_code(response) == "NotImplemented"
    upload = slot(emulator_put)["upload"]
    response = requests.put(upload["url"], data=chunks(MAIL), headers=upload["headers"], timeout=10)
    assert response.status_code == 501 and error_code(response) == "NotImplemented"
    assert all(r["stores"] == 0 for r in [*emulator.records(), *emulator_put.records()])


def test_missing_content_length_is_411(emulator_put: Emulator) -> None:
    upload = slot(emulator_put)["upload"]
    parts = urlsplit(upload["url"])
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        conn.putrequest("PUT", f"{parts.path}?{parts.query}")
        for name, value in upload["headers"].items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 411
        assert b"MissingContentLength" in response.read()
    finally:
        conn.close()


def test_expired_slot_is_403(emulator: Emulator, emulator_put: Emulator,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    post, put = slot(emulator)["upload"], slot(emulator_put)["upload"]
    for emu in (emulator, emulator_put):
        monkeypatch.setattr(emu, "clock", lambda: time.time() + 901)
    for response in (send_post(post), send_put(put)):
        assert response.status_code == 403
        assert error_code(response) == "AccessDenied"
        assert "expired" in response.text


def test_bad_signatures_are_403(emulator: Emulator, emulator_put: Emulator) -> None:
    upload = slot(emulator)["upload"]
    upload["fields"]["x-vaultmail-signature"] = "0" * 64
    assert send_post(upload).status_code == 403
    upload = slot(emulator)["upload"]
    upload["fields"]["x-vaultmail-expires"] = str(int(upload["fields"]["x-vaultmail-expires"]) + 60)
    assert error_code(send_post(upload)) == "SignatureDoesNotMatch"
    upload = slot(emulator_put)["upload"]
    upload["url"] = upload["url"].replace("signature=", "signature=0")
    assert send_put(upload).status_code == 403
    upload = slot(emulator_put)["upload"]
    upload["url"] = upload["url"].split("?")[0]
    assert send_put(upload).status_code == 403


@pytest.mark.parametrize("header", ["Content-Type", "x-amz-meta-sha256"])
def test_put_without_a_signed_header_or_with_another_value_is_403(
    emulator_put: Emulator, header: str
) -> None:
    upload = slot(emulator_put)["upload"]
    assert send_put(upload, headers={header: "text/plain"}).status_code == 403
    del upload["headers"][header]
    response = send_put(upload)
    assert response.status_code == 403 and error_code(response) == "SignatureDoesNotMatch"


@pytest.mark.parametrize(("data", "code"), [
    (MAIL[:-1], "EntityTooSmall"),
    (MAIL + b"x", "EntityTooLarge"),
    (MAIL[:-1] + b"!", "BadDigest"),
])
def test_wrong_size_or_digest_is_400(emulator: Emulator, emulator_put: Emulator,
                                     data: bytes, code: str) -> None:
    for response in (send_post(slot(emulator)["upload"], data),
                     send_put(slot(emulator_put)["upload"], data)):
        assert response.status_code == 400
        assert error_code(response) == code
    assert all(r["stores"] == 0 for r in [*emulator.records(), *emulator_put.records()])


def test_malformed_forms_are_refused(emulator: Emulator) -> None:
    upload = slot(emulator)["upload"]
    fields = field_parts(upload)
    after = post_form(upload, [*fields[:-1], ("file", MAIL, "m.eml"), fields[-1]])
    assert after.status_code == 400  # a field after the file (and so one missing before it)
    late = post_form(upload, [*fields, ("file", MAIL, "m.eml"), ("acl", b"private", None)])
    assert late.status_code == 400 and error_code(late) == "InvalidArgument"
    assert post_form(upload, fields).status_code == 400  # no file at all
    not_a_form = requests.post(upload["url"], data=MAIL, timeout=10)
    assert not_a_form.status_code == 412
    upload["fields"]["key"] = "acme.com/evil@acme.com/x.eml"
    assert send_post(upload).status_code == 403
    assert emulator.records()[0]["stores"] == 0


def test_slot_method_and_unknown_slots(emulator: Emulator) -> None:
    upload = slot(emulator)["upload"]
    assert requests.put(upload["url"], data=MAIL, timeout=10).status_code == 405
    unknown = dict(upload, url=f"{emulator.url}/slots/{uuid.uuid4()}")
    assert send_post(unknown).status_code == 403
    assert requests.get(emulator.url + "/nowhere", timeout=10).status_code == 404


def test_errors_keep_the_connection_usable(emulator_put: Emulator) -> None:
    session = requests.Session()
    upload = slot(emulator_put)["upload"]
    bad = session.put(upload["url"], data=MAIL, headers={"Content-Type": "text/plain"}, timeout=10)
    assert bad.status_code == 403
    good = session.put(upload["url"], data=MAIL, headers=upload["headers"], timeout=10)
    assert good.status_code == 200
    session.close()


# -- faults ------------------------------------------------------------------------------------


def test_503_twice_then_ok(emulator: Emulator) -> None:
    emulator.add_faults([{"target": "uploads", "status": 503, "times": 2}])
    statuses = [ask(emulator, slot_body()).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert emulator.hits["uploads"] == 3
    assert emulator.faults() == []


def test_429_with_retry_after_and_code(emulator: Emulator) -> None:
    emulator.add_faults([{"target": "uploads", "status": 429, "retryAfter": 1},
                         {"target": "slot", "status": 503, "code": "SlowDown"}])
    response = ask(emulator, slot_body())
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["code"] == "TooManyRequests"
    upload = slot(emulator)["upload"]
    response = send_post(upload)
    assert response.status_code == 503 and error_code(response) == "SlowDown"
    assert send_post(upload).status_code == 204


@pytest.mark.parametrize("after_bytes", [0, 1000])
def test_reset_is_a_connection_error(emulator: Emulator, after_bytes: int) -> None:
    emulator.add_faults([{"target": "uploads", "action": "reset"},
                         {"target": "slot", "action": "reset", "afterBytes": after_bytes}])
    with pytest.raises(requests.exceptions.ConnectionError):
        ask(emulator, slot_body())
    upload = slot(emulator)["upload"]
    with pytest.raises(requests.exceptions.ConnectionError):
        send_post(upload)
    assert send_post(upload).status_code == 204
    assert emulator.hits == {"uploads": 2, "slot": 2}


def test_delay_triggers_a_read_timeout(emulator: Emulator) -> None:
    emulator.add_faults([{"target": "uploads", "action": "delay", "seconds": 1.0}])
    with pytest.raises(requests.exceptions.ReadTimeout):
        ask(emulator, slot_body(), timeout=0.2)
    assert ask(emulator, slot_body()).status_code == 201


@pytest.mark.parametrize("rule", [
    {"action": "reset"},
    {"action": "delay", "seconds": 12.0},
    {"status": 500},
], ids=["reset", "delay", "500"])
def test_after_store_the_mail_is_stored_and_the_answer_lost(emulator: Emulator,
                                                             rule: dict[str, Any]) -> None:
    emulator.add_faults([{"target": "slot", "afterStore": True, **rule}])
    upload = slot(emulator)["upload"]
    if rule.get("status"):
        assert send_post(upload).status_code == 500
    else:
        # a read timeout well under the delay, well over a busy machine's store into moto
        with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout)):
            post_form(upload, [*field_parts(upload), ("file", MAIL, "mail.eml")], timeout=(5, 3.0))
    (record,) = emulator.records()
    assert record["stores"] == 1
    assert [len(keys) for keys in emulator.vaults().values()] == [1, 1]


def test_storing_the_same_file_name_again_overwrites(emulator: Emulator, s3: Any) -> None:
    name = f"{uuid.uuid4()}.eml"
    for _ in range(2):
        assert send_post(slot(emulator, fileName=name)["upload"]).status_code == 204
    assert emulator.records()[0]["stores"] == 2
    vaults = emulator.vaults()
    assert vaults == {"amit@acme.com": [f"acme.com/amit@acme.com/{name}"],
                      "team@example.org": [f"example.org/team@example.org/{name}"]}
    listed = s3.list_object_versions(Bucket=BUCKET).get("Versions", [])
    assert len(listed) == 2  # unversioned bucket: the second put replaced the first


def test_one_use_slots_are_fresh_per_request_and_store_once(emulator_factory: Any) -> None:
    emu = emulator_factory(one_use_slots=True)
    first, second = slot(emu), slot(emu)
    assert first["uploadId"] != second["uploadId"]
    assert send_post(first["upload"]).status_code == 204
    used = send_post(first["upload"])
    assert used.status_code == 403 and error_code(used) == "AccessDenied"
    assert send_post(second["upload"]).status_code == 204
    assert [r["stores"] for r in emu.records()] == [1, 1]
    assert requests.get(emu.url + "/_emulator/health", timeout=10).json()["oneUseSlots"] is True


def test_bad_fault_rules_are_refused(emulator: Emulator) -> None:
    for rule in ({"target": "nowhere", "status": 503}, {"target": "slot"},
                 {"target": "slot", "action": "delay"}, {"target": "slot", "status": 200},
                 {"target": "uploads", "status": 500, "afterStore": True},
                 {"target": "slot", "action": "reset", "afterBytes": 10, "afterStore": True},
                 {"target": "slot", "status": 500, "afterStore": "yes"}):
        with pytest.raises(ValueError):
            emulator.add_faults([rule])
    assert emulator.faults() == []


# -- control over HTTP (for a separate process) ------------------------------------------------


def test_control_endpoints(emulator: Emulator) -> None:
    base = emulator.url + "/_emulator"
    rules = [{"target": "uploads", "status": 500, "times": 5}]
    answer = requests.post(f"{base}/faults", json=rules, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["faults"] == rules
    assert requests.post(f"{base}/faults", json=[{"target": "x"}], timeout=10).status_code == 400
    assert ask(emulator, slot_body()).status_code == 500
    assert requests.delete(f"{base}/faults", timeout=10).status_code == 204
    answer_201 = slot(emulator)
    assert send_post(answer_201["upload"]).status_code == 204
    uploads = requests.get(f"{base}/uploads", timeout=10).json()
    assert [u["uploadId"] for u in uploads] == [answer_201["uploadId"]]
    assert uploads[0]["stores"] == 1 and uploads[0]["requests"] == 1
    vaults = requests.get(f"{base}/vaults", timeout=10).json()
    assert sorted(vaults) == ["amit@acme.com", "team@example.org"]
    assert requests.get(f"{base}/hits", timeout=10).json() == {"uploads": 2, "slot": 1}
    assert requests.post(f"{base}/reset", timeout=10).status_code == 204
    assert emulator.records() == [] and emulator.hits == {"uploads": 0, "slot": 0}


def test_standalone_process(moto_server: MotoHandle, aws_env: dict[str, str]) -> None:
    with spawn_emulator(moto_server.url, domains=["acme.com"], slot_method="PUT") as process:
        health = requests.get(process.url + "/_emulator/health", timeout=10).json()
        assert health == {"ok": True, "slotMethod": "PUT", "oneUseSlots": False,
                          "domains": ["acme.com"], "bucket": BUCKET}
        body = slot_body(vaults=["amit@acme.com"], domains=["acme.com"])
        response = requests.post(process.url + "/v1/uploads", json=body, timeout=10,
                                 headers={"x-api-key": KEY, "Idempotency-Key": body["sha256"]})
        assert response.status_code == 201
        assert send_put(response.json()["upload"]).status_code == 200
        vaults = requests.get(process.url + "/_emulator/vaults", timeout=10).json()
        assert list(vaults) == ["amit@acme.com"]
    assert process.process.returncode == 0
