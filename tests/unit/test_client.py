"""Upload client: retries, Retry-After, error mapping, streaming with Content-Length (no sockets)."""

from __future__ import annotations

import io
import json

import pytest
import requests
import responses

from vaultmail import api
from vaultmail.client import UploadClient
from vaultmail.errors import (
    ApiKeyRefused,
    ConfigurationError,
    InvalidRecipient,
    NoPrimaryDomainRecipient,
    UploadFailed,
    UploadRejected,
)
from vaultmail.settings import Settings
from vaultmail.source import BytesSource, LengthReader

BASE = "https://api.example.test"
MAIL = b"From: a@acme.com\r\nTo: b@acme.com\r\n\r\nbody\r\n"
REQUEST = api.UploadRequest(
    domains=("acme.com",),
    vaults=("a@acme.com", "b@acme.com"),
    sender="a@acme.com",
    size=len(MAIL),
    sha256="0" * 64,
    message_id=None,
)


def ticket(method: str = "PUT") -> dict[str, object]:
    upload: dict[str, object] = {"method": method, "url": "https://slot.example.test/up"}
    upload["headers" if method == "PUT" else "fields"] = (
        {"Content-Type": "message/rfc822"} if method == "PUT" else {"key": "k", "policy": "p"}
    )
    return {"uploadId": "u-1", "upload": upload}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> UploadClient:
    return UploadClient(BASE, "secret-key", max_attempts=4, sleep=sleeps.append, jitter=lambda: 1.0)


@responses.activate
def test_put_upload_sends_key_idempotency_and_length(client: UploadClient) -> None:
    responses.post(BASE + "/v1/uploads", json=ticket("PUT"), status=201)
    responses.put("https://slot.example.test/up", status=200)
    result = client.upload(REQUEST, BytesSource(MAIL))
    assert result.upload_id == "u-1"
    step1, step2 = responses.calls[0].request, responses.calls[1].request
    assert step1.headers["x-api-key"] == "secret-key"
    assert step1.headers["Idempotency-Key"] == REQUEST.sha256
    assert json.loads(step1.body)["vaults"] == ["a@acme.com", "b@acme.com"]
    assert step2.headers["Content-Length"] == str(len(MAIL))
    assert step2.headers["Content-Type"] == "message/rfc822"
    assert "Transfer-Encoding" not in step2.headers


@responses.activate
def test_post_upload_is_multipart_with_file_last(client: UploadClient) -> None:
    responses.post(BASE + "/v1/uploads", json=ticket("POST"), status=201)
    responses.post("https://slot.example.test/up", status=204)
    client.upload(REQUEST, BytesSource(MAIL))
    step2 = responses.calls[1].request
    body = step2.body.read() if hasattr(step2.body, "read") else step2.body
    assert int(step2.headers["Content-Length"]) == len(body)
    assert body.index(b'name="key"') < body.index(b'name="policy"') < body.index(b'name="file"')
    assert MAIL in body


@responses.activate
def test_429_honours_retry_after_then_succeeds(client: UploadClient, sleeps: list[float]) -> None:
    responses.post(BASE + "/v1/uploads", status=429, headers={"Retry-After": "3"}, json={"code": "Slow"})
    responses.post(BASE + "/v1/uploads", json=ticket(), status=201)
    assert client.request_slot(REQUEST).upload_id == "u-1"
    assert sleeps == [3.0]


@responses.activate
def test_5xx_and_reset_are_retried_with_capped_backoff(client: UploadClient, sleeps: list[float]) -> None:
    responses.post(BASE + "/v1/uploads", status=503)
    responses.post(BASE + "/v1/uploads", body=requests.ConnectionError("reset"))
    responses.post(BASE + "/v1/uploads", body=requests.ReadTimeout("slow"))
    responses.post(BASE + "/v1/uploads", json=ticket(), status=201)
    client.request_slot(REQUEST)
    assert sleeps == [0.5, 1.0, 2.0]  # base 0.5 s doubling, jitter pinned to 1.0


@responses.activate
def test_persistent_failure_gives_upload_failed_after_bounded_attempts(client: UploadClient) -> None:
    responses.post(BASE + "/v1/uploads", status=500)
    with pytest.raises(UploadFailed) as err:
        client.request_slot(REQUEST)
    assert err.value.exit_code == 5 and err.value.transient
    assert len(responses.calls) == 4


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (401, "Unauthorized", ApiKeyRefused),
        (403, "Forbidden", ApiKeyRefused),
        (400, "BadRequest", UploadRejected),
        (413, "TooLarge", UploadRejected),
        (422, "InvalidRecipient", InvalidRecipient),
        (422, "NoPrimaryDomainRecipient", NoPrimaryDomainRecipient),
    ],
)
@responses.activate
def test_final_answers_are_not_retried(client: UploadClient, status: int, code: str, error: type) -> None:
    responses.post(BASE + "/v1/uploads", status=status, json={"code": code, "message": "no"})
    with pytest.raises(error):
        client.request_slot(REQUEST)
    assert len(responses.calls) == 1


@responses.activate
def test_slot_retry_reopens_the_source(client: UploadClient) -> None:
    responses.put("https://slot.example.test/up", status=503)
    responses.put("https://slot.example.test/up", status=200)
    client.send_mail(api.parse_ticket(ticket()).slot, BytesSource(MAIL), "x.eml")
    bodies = [c.request.body for c in responses.calls]
    assert len(bodies) == 2


def test_key_never_in_repr() -> None:
    assert "secret-key" not in repr(UploadClient(BASE, "secret-key"))


def test_length_reader_reports_remaining_and_refuses_short_streams() -> None:
    reader = LengthReader(io.BytesIO(b"abcdef"), 6)
    assert reader.len == 6
    assert reader.read(4) == b"abcd" and reader.len == 2
    assert reader.read() == b"ef" and reader.read() == b""
    short = LengthReader(io.BytesIO(b"abc"), 10)
    short.read()
    with pytest.raises(Exception, match="ended after 3 of 10"):
        short.read()


def test_unexpected_201_body_is_a_transient_failure() -> None:
    with pytest.raises(UploadFailed):
        api.parse_ticket({"uploadId": "x", "upload": {"method": "GET", "url": "u"}})


def test_bodies_go_to_the_socket_in_1_mib_blocks() -> None:
    """http.client's default (16 KiB) would read a 50 MB mail in 3,200 small pieces."""
    from vaultmail.client import _pooled_session
    from vaultmail.source import CHUNK

    session = _pooled_session()
    for url in ("https://slot.example", "http://127.0.0.1"):
        pool = session.get_adapter(url).poolmanager.connection_from_url(url)
        assert pool.conn_kw["blocksize"] == CHUNK == 1 << 20


@responses.activate
def test_no_retry_is_started_that_the_deadline_would_cut_short(sleeps: list[float]) -> None:
    """A Lambda near its deadline fails transiently (retried later) instead of timing out."""
    clock = {"left": 30.0}

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock["left"] -= seconds

    client = UploadClient(
        BASE, "secret-key", max_attempts=5, sleep=sleep, jitter=lambda: 1.0, time_left=lambda: clock["left"]
    )
    for _ in range(5):
        responses.post(BASE + "/v1/uploads", status=429, headers={"Retry-After": "12"})
    with pytest.raises(UploadFailed, match="no time for attempt 4 before the deadline") as caught:
        client.request_slot(REQUEST)
    assert caught.value.transient
    # 30 s left: a 12 s wait plus 5 s to connect fits twice (30 -> 18 -> 6), not a third time
    assert sleeps == [12.0, 12.0]
    assert client.attempts["slot request"] == 3


@responses.activate
def test_timeouts_never_outlast_the_deadline() -> None:
    seen: list[object] = []

    def record(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(request.req_kwargs["timeout"])  # type: ignore[attr-defined]
        return 201, {}, json.dumps(ticket())

    responses.add_callback(responses.POST, BASE + "/v1/uploads", callback=record)
    client = UploadClient(BASE, "k", connect_timeout=5, read_timeout=60, time_left=lambda: 7.5)
    client.request_slot(REQUEST)
    assert seen == [(5, 7.5)]
    with pytest.raises(UploadFailed, match="no time left"):
        UploadClient(BASE, "k", time_left=lambda: -1.0).request_slot(REQUEST)
    assert UploadClient(BASE, "k", time_left=lambda: None)._timeouts() == (5.0, 60.0)


@responses.activate
def test_a_budget_narrows_the_retries_and_hands_a_long_retry_after_to_the_caller(
    client: UploadClient, sleeps: list[float]
) -> None:
    """A queued mail: two attempts, short waits; a Retry-After longer than max_wait is not slept."""
    responses.post(BASE + "/v1/uploads", status=429, headers={"Retry-After": "300"})
    with client.budget(max_attempts=2, max_wait=2.0, backoff_cap=1.0), pytest.raises(UploadFailed) as caught:
        client.request_slot(REQUEST)
    assert caught.value.retry_after == 300 and caught.value.transient
    assert sleeps == [] and client.attempts["slot request"] == 1
    for _ in range(3):
        responses.post(BASE + "/v1/uploads", status=503)
    with client.budget(max_attempts=2, max_wait=2.0, backoff_cap=1.0), pytest.raises(UploadFailed):
        client.request_slot(REQUEST)
    assert sleeps == [0.5] and client.attempts["slot request"] == 3  # 1 + 2 attempts
    assert (client.max_attempts, client.max_wait, client.backoff_cap) == (4, None, 20.0)  # restored


# ---- trust boundary: the key goes to the endpoint's host alone (SECURITY.md, issue 20) ----------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.test",
        "http://127.0.0.1:8080",
        "http://127.9.9.9",
        "http://[::1]:9000/",
        "http://localhost:1",
    ],
)
def test_https_or_loopback_http_endpoints_are_accepted(url: str) -> None:
    assert UploadClient(url, "k").endpoint_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.test",
        "http://10.0.0.1:8080",
        "http://[2001:db8::1]/",
        "http://localhost.evil.test",
        "ftp://api.example.test",
        "api.example.test",
        "https://",
    ],
)
def test_plain_http_off_loopback_and_other_schemes_are_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="API_ENDPOINT_URL"):
        UploadClient(url, "secret-key")


def test_from_settings_refuses_plain_http_too() -> None:
    settings = Settings(api_endpoint_url="http://api.example.test")
    with pytest.raises(ConfigurationError) as caught:
        UploadClient.from_settings(settings, "secret-key")
    assert "secret-key" not in str(caught.value)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@responses.activate
def test_a_redirect_of_the_slot_request_is_not_followed_and_names_the_host(
    client: UploadClient, sleeps: list[float], status: int
) -> None:
    responses.post(BASE + "/v1/uploads", status=status, headers={"Location": "http://other.example:81/v1/up"})
    responses.post("http://other.example:81/v1/up", json=ticket("PUT"), status=201)
    with pytest.raises(UploadFailed) as caught:
        client.request_slot(REQUEST)
    assert len(responses.calls) == 1  # the Location was never asked, so it never saw the key
    assert "other.example" in str(caught.value) and f"HTTP {status}" in str(caught.value)
    assert "secret-key" not in str(caught.value)
    assert caught.value.step == api.SLOT_REQUEST and sleeps == []  # not retried either
