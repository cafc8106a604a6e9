"""vaultmail.links, the pure parts: tokens, the link item, the resolver, the pages, and the
function URL event as AWS documents it (events/function-url-get.json)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent
from hypothesis import given
from hypothesis import strategies as st

from vaultmail.links import (
    ID_PREFIX,
    PAGE_HEADERS,
    Decision,
    Link,
    from_item,
    link_url,
    new_token,
    page,
    resolve,
    short,
    to_item,
    token_from_path,
    token_from_url,
    token_hash,
)
from vaultmail.links.item import RETENTION
from vaultmail_dev.funcurl import http_answer, request_event

EVENTS = Path(__file__).resolve().parents[2] / "events"
NOW = 1_800_000_000


def link(**changes: object) -> Link:
    base = dict(
        digest="ab" * 32,
        bucket="mail",
        key="out/big.eml",
        etag="e" * 32,
        version_id="v1",
        expires_at=NOW + 60,
        file_name="Report.eml",
        contact="archive-notices@acme.com",
        recipients=("a@acme.com", "b@example.org"),
        created_at=NOW - 60,
    )
    base.update(changes)
    return Link(**base)  # type: ignore[arg-type]


# -- tokens ----------------------------------------------------------------------------------------


def test_a_token_has_256_random_bits_and_only_its_sha256_is_kept() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 bytes, URL-safe base64
        assert token_hash(token) == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps(to_item(link(digest=token_hash(token))))
    assert link().id.startswith(ID_PREFIX) and link().id == "link#" + "ab" * 32
    assert short("0123456789abcdef" * 4) == "0123456789ab"


@given(st.text(alphabet="ABCabc019_-", min_size=22, max_size=128))
def test_the_token_of_a_link_url_is_found_again(token: str) -> None:
    url = link_url("https://x.lambda-url.us-east-1.on.aws/", token)
    assert url == f"https://x.lambda-url.us-east-1.on.aws/m/{token}"
    assert token_from_url(url) == token and token_from_path(f"/m/{token}") == token


@given(st.text(max_size=200))
def test_any_other_path_has_no_token(path: str) -> None:
    token = token_from_path(path)
    assert token is None or (path == f"/m/{token}" and re.fullmatch(r"[A-Za-z0-9_-]{22,128}", token))


def test_paths_that_are_not_links() -> None:
    for path in ("/", "/m/", "/m/short", "/m/" + "a" * 43 + "/x", "/x/" + "a" * 43, "/m/" + "a" * 42 + "%"):
        assert token_from_path(path) is None, path


# -- the item --------------------------------------------------------------------------------------


@given(
    st.builds(
        link,
        key=st.text(min_size=1, max_size=50),
        version_id=st.one_of(st.none(), st.text(min_size=1, max_size=10)),
        recipients=st.lists(st.emails(), max_size=5).map(tuple),
        revoked=st.booleans(),
        downloads=st.integers(min_value=0, max_value=10**6),
    )
)
def test_the_item_round_trips(original: Link) -> None:
    assert from_item(to_item(original)) == original


def test_the_item_expires_from_the_table_after_the_link() -> None:
    item = to_item(link())
    assert int(item["expiration"]["N"]) == NOW + 60 + RETENTION
    assert "versionId" not in to_item(link(version_id=None))


# -- the resolver ----------------------------------------------------------------------------------


def test_resolve() -> None:
    assert resolve(None, NOW) == Decision(404, "unknown")
    assert resolve(link(), NOW) == Decision(302, "ok", link())
    assert resolve(link(), NOW + 59).ok
    assert resolve(link(), NOW + 60) == Decision(410, "expired", link())
    assert resolve(link(revoked=True), NOW) == Decision(410, "revoked", link(revoked=True))
    assert resolve(link(revoked=True, expires_at=NOW - 1), NOW).reason == "revoked"


# -- the pages -------------------------------------------------------------------------------------


def test_pages_say_what_happened_and_whom_to_ask() -> None:
    expired = page(resolve(link(), NOW + 3600))
    assert "expired on 2027-01-15 08:01 UTC" in expired and "archive-notices@acme.com" in expired
    assert "withdrawn" in page(resolve(link(revoked=True), NOW))
    unknown = page(resolve(None, NOW))
    assert "not known" in unknown and "sender of the notice" in unknown
    for html in (expired, unknown):
        assert "<script" not in html and "<style" not in html and len(html) < 1000


def test_pages_escape_what_they_show() -> None:
    html = page(resolve(link(contact='<script>alert("x")</script> <a@b>'), NOW + 3600))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_page_headers() -> None:
    assert PAGE_HEADERS["Content-Security-Policy"] == "default-src 'none'"
    assert PAGE_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert PAGE_HEADERS["Referrer-Policy"] == "no-referrer"
    assert PAGE_HEADERS["Cache-Control"] == "no-store"


# -- the function URL event ------------------------------------------------------------------------


def test_the_documented_event_parses_with_powertools() -> None:
    raw = json.loads((EVENTS / "function-url-get.json").read_text())
    event = LambdaFunctionUrlEvent(raw)
    assert event.request_context.http.method == "GET"
    assert token_from_path(event.raw_path) == "Vq3xL0bT9cYw2Jf8KpR4nE6sHu1aZ7dGmQ5tXo_-iAk"
    assert event.request_context.http.source_ip == "203.0.113.7"
    assert event.request_context.http.user_agent.startswith("Mozilla/5.0")


def test_the_local_function_url_makes_the_documented_event() -> None:
    documented = json.loads((EVENTS / "function-url-get.json").read_text())
    made = request_event(
        "HEAD",
        "/m/abc?x=1&x=2",
        [("User-Agent", "curl/8"), ("Accept", "*/*"), ("Cookie", "a=1; b=2")],
        b"",
        source_ip="127.0.0.9",
    )
    assert set(documented) <= set(made) | {"body"}
    assert set(documented["requestContext"]) == set(made["requestContext"])
    assert set(documented["requestContext"]["http"]) == set(made["requestContext"]["http"])
    assert made["rawPath"] == "/m/abc" and made["rawQueryString"] == "x=1&x=2"
    assert made["queryStringParameters"] == {"x": "1,2"} and made["cookies"] == ["a=1", "b=2"]
    assert made["headers"] == {"user-agent": "curl/8", "accept": "*/*"}  # lower-cased, cookies apart
    http = LambdaFunctionUrlEvent(made).request_context.http
    assert (http.method, http.source_ip, http.user_agent) == ("HEAD", "127.0.0.9", "curl/8")


def test_the_local_function_url_turns_the_answer_into_http() -> None:
    status, headers, body = http_answer(
        {"statusCode": 302, "headers": {"Location": "https://s3/x"}, "cookies": ["c=1"], "body": ""}
    )
    assert (status, body) == (302, b"") and ("Location", "https://s3/x") in headers
    assert ("set-cookie", "c=1") in headers
    assert http_answer({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True})[2] == b"hi"
    assert http_answer({"ok": True}) == (200, [("content-type", "application/json")], b'{"ok": true}')


def test_link_base_url_is_the_function_url_without_its_trailing_slash() -> None:
    from vaultmail.settings import Settings

    url = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/"  # as FunctionUrl gives it
    base = Settings.from_env({"LINK_BASE_URL": url}).link_base_url
    assert base == url.rstrip("/") and link_url(str(base), "t" * 43) == f"{base}/m/{'t' * 43}"
    assert Settings.from_env({"LINK_BASE_URL": ""}).link_base_url is None
