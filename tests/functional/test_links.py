"""Download links on moto: the scanner makes a token link per notice, the download function
answers it (302 to the pinned version, 404, 410, 405; HEAD not counted), `vaultmail links`
lists and revokes."""

from __future__ import annotations

import argparse
import io
import json
import re
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from vaultmail.cli.links import execute
from vaultmail.links import LinkTable, new_token, token_from_url, token_hash
from vaultmail.scanner import Scanner
from vaultmail.settings import get_settings
from vaultmail_dev.funcurl import request_event

from .lambdas import FakeContext, load_handler
from .test_scanner import (
    BUCKET,
    SMALL_THRESHOLD,
    TABLE,
    FlakyDynamoDB,
    RecordingSes,
    World,
    create_world,
    make_mail,
)

BASE = "https://abc.lambda-url.us-east-1.on.aws"
EXPIRY = 14 * 24 * 3600


@pytest.fixture
def world(aws_env: Any, moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = create_world(moto_server.url, link_base_url=BASE, link_expiry_seconds=EXPIRY)
    w.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("STATE_TABLE", TABLE)
    get_settings.cache_clear()
    yield w
    get_settings.cache_clear()


@pytest.fixture
def download() -> ModuleType:
    return load_handler("download")


def notices_of(world: World, key: str, body: bytes, **scanner: Any) -> tuple[list[dict[str, Any]], Scanner]:
    world.put(key, body)
    ses = RecordingSes(world.ses)
    sc = world.scanner(ses=ses, **scanner)
    sc.run(send_stats=False)
    return ses.notices(), sc


def click(app: ModuleType, url: str, method: str = "GET") -> dict[str, Any]:
    event = request_event(
        method, urlsplit(url).path, [("User-Agent", "test-agent/1")], b"", source_ip="198.51.100.4"
    )
    return cast(dict[str, Any], app.lambda_handler(event, FakeContext()))


def text_link(notice: dict[str, Any]) -> str:
    text = notice["Content"]["Simple"]["Body"]["Text"]["Data"]
    match = re.search(r"^(https?://\S+)$", text, re.M)
    assert match, text
    return match.group(1)


def links(world: World) -> LinkTable:
    return LinkTable(world.ddb, TABLE)


def test_a_notice_carries_a_token_link_that_redirects_to_the_version_it_was_made_for(
    world: World, download: ModuleType, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    original = make_mail(SMALL_THRESHOLD + 10, to="Bob <bob@acme.com>, carol@example.org")
    before = time.time()
    (notice,), _ = notices_of(world, "mail/big.eml", original)
    url = text_link(notice)
    assert url.startswith(f"{BASE}/m/")
    token = token_from_url(url)
    assert token and len(token) >= 22
    link = links(world).get(token_hash(token))
    assert link is not None and link.bucket == BUCKET and link.key == "mail/big.eml"
    version = world.s3.head_object(Bucket=BUCKET, Key="mail/big.eml")["VersionId"]
    assert link.version_id == version and link.contact == world.settings.notify_from
    assert sorted(link.recipients) == ["bob@acme.com", "carol@example.org"]
    assert int(before) + EXPIRY <= link.expires_at <= time.time() + EXPIRY
    stated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(link.expires_at))
    assert (
        f"The link works until {stated} at the latest." in notice["Content"]["Simple"]["Body"]["Text"]["Data"]
    )
    assert token not in json.dumps(world.ddb.scan(TableName=TABLE)["Items"])  # only its hash is kept

    answer = click(download, url)
    assert answer["statusCode"] == 302 and answer["body"] == ""
    assert answer["headers"]["Cache-Control"] == "no-store"
    location = answer["headers"]["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["versionId"] == [version] and int(query["X-Amz-Expires"][0]) <= 300
    assert query["response-content-disposition"] == ['attachment; filename="Quarterly figures.eml"']
    assert query["response-content-type"] == ["message/rfc822"]
    assert requests.get(location, timeout=30).content == original

    world.put("mail/big.eml", make_mail(SMALL_THRESHOLD + 99, subject="Another mail"))  # overwritten
    again = click(download, url)["headers"]["Location"]
    assert requests.get(again, timeout=30).content == original  # still the version the notice named
    assert links(world).get(token_hash(token)).downloads == 2  # type: ignore[union-attr]

    out = capsys.readouterr().out
    assert token not in out + caplog.text  # never logged
    logged = [vars(r) for r in caplog.records if r.getMessage() == "link answered"]
    assert len(logged) == 2 and logged[0]["hash"] == token_hash(token)[:12] and logged[0]["status"] == 302
    assert logged[0]["key"] == "mail/big.eml" and logged[0]["version"] == version
    assert logged[0]["sourceIp"] == "198.51.100.4" and logged[0]["userAgent"] == "test-agent/1"
    assert token not in json.dumps(logged, default=str)
    assert out.count('"LinkDownloads":[1.0]') == 2


def test_head_answers_like_get_without_a_body_and_is_not_a_download(
    world: World, download: ModuleType
) -> None:
    (notice,), _ = notices_of(world, "mail/big.eml", make_mail(SMALL_THRESHOLD + 10))
    url = text_link(notice)
    head = click(download, url, "HEAD")
    assert head["statusCode"] == 302 and head["body"] == "" and "Location" in head["headers"]
    assert links(world).get(token_hash(token_from_url(url) or "")).downloads == 0  # type: ignore[union-attr]
    gone = click(download, f"{BASE}/m/{new_token()}", "HEAD")
    assert gone["statusCode"] == 404 and gone["body"] == ""


def test_unknown_tokens_other_paths_and_methods(
    world: World, download: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = click(download, f"{BASE}/m/{new_token()}")
    assert unknown["statusCode"] == 404 and "Link not found" in unknown["body"]
    assert unknown["headers"]["Content-Security-Policy"] == "default-src 'none'"
    assert click(download, f"{BASE}/")["statusCode"] == 404
    assert click(download, f"{BASE}/m/{new_token()}/x")["statusCode"] == 404
    post = click(download, f"{BASE}/m/{new_token()}", "POST")
    assert post["statusCode"] == 405 and post["headers"]["Allow"] == "GET, HEAD"
    assert capsys.readouterr().out.count('"LinkRefused":[1.0]') == 4


def test_revoked_and_expired_links_are_gone(world: World, download: ModuleType) -> None:
    (notice,), _ = notices_of(world, "mail/big.eml", make_mail(SMALL_THRESHOLD + 10))
    url = text_link(notice)
    out = io.StringIO()
    args = argparse.Namespace(links_command="revoke", url=url, key=None, bucket=None)
    assert execute(args, links(world), now=time.time(), out=out) == 0
    answer = click(download, url)
    assert answer["statusCode"] == 410 and "withdrawn" in answer["body"]
    assert "notices@acme.com" in answer["body"]  # whom to ask
    assert click(download, url, "HEAD") == {**answer, "body": ""}

    past = time.time() - 2 * EXPIRY  # a scan that ran more than the link's lifetime ago
    (old,), _ = notices_of(world, "mail/old.eml", make_mail(SMALL_THRESHOLD + 10), clock=lambda: past)
    expired = click(download, text_link(old))
    assert expired["statusCode"] == 410 and "expired on" in expired["body"]


def test_an_unversioned_object_that_was_replaced_is_gone(
    aws_env: Any, moto_server: Any, download: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = create_world(moto_server.url, link_base_url=BASE)  # no versioning: pinned by ETag
    monkeypatch.setenv("STATE_TABLE", TABLE)
    get_settings.cache_clear()
    (notice,), _ = notices_of(world, "mail/big.eml", make_mail(SMALL_THRESHOLD + 10))
    url = text_link(notice)
    link = links(world).get(token_hash(token_from_url(url) or ""))
    assert link is not None and link.version is None and link.etag
    assert click(download, url)["statusCode"] == 302
    world.put("mail/big.eml", make_mail(SMALL_THRESHOLD + 11))
    replaced = click(download, url)
    assert replaced["statusCode"] == 410 and "no longer stored" in replaced["body"]


def test_links_list_and_revoke_by_key(world: World) -> None:
    notices_of(world, "mail/big.eml", make_mail(SMALL_THRESHOLD + 10))
    notices_of(world, "mail/other.eml", make_mail(SMALL_THRESHOLD + 10))
    out = io.StringIO()
    listing = argparse.Namespace(links_command="list", key="mail/big.eml", bucket=None, json=True)
    assert execute(listing, links(world), now=time.time(), out=out) == 0
    (row,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert row["state"] == "active" and row["downloads"] == 0 and row["recipients"] == ["bob@acme.com"]
    assert row["key"] == "mail/big.eml" and len(row["hash"]) == 12
    revoke = argparse.Namespace(links_command="revoke", url=None, key="mail/big.eml", bucket=None)
    assert execute(revoke, links(world), now=time.time(), out=io.StringIO()) == 0
    out = io.StringIO()
    assert execute(listing, links(world), now=time.time(), out=out) == 0
    assert json.loads(out.getvalue())["state"] == "revoked"
    other = [link.revoked for link in links(world).for_key("mail/other.eml")]
    assert other == [False]  # the other mail's link is untouched
    unknown = argparse.Namespace(links_command="revoke", url=f"{BASE}/m/{new_token()}", key=None, bucket=None)
    assert execute(unknown, links(world), now=time.time(), out=io.StringIO()) == 1


def test_a_link_that_cannot_be_stored_fails_the_mail_and_releases_its_claim(world: World) -> None:
    flaky = FlakyDynamoDB(
        world.ddb,
        lambda op, kw: (
            "InternalServerError" if op == "put_item" and kw["Item"]["id"]["S"].startswith("link#") else None
        ),
    )
    world.put("mail/big.eml", make_mail(SMALL_THRESHOLD + 10))
    ses = RecordingSes(world.ses)
    result = world.scanner(ses=ses, dynamodb=flaky).run(send_stats=False)
    assert ses.notices() == [] and result.stats.failed == 1
    assert world.item("mail/big.eml")["status"]["S"] == "failed"  # type: ignore[index]
    assert world.scanner(ses=ses).run(send_stats=False).stats.notified == 1  # the next run sends


def test_without_link_base_url_the_notice_has_a_presigned_link_of_at_most_7_days(world: World) -> None:
    settings = world.settings.with_overrides(link_base_url=None)
    start = time.time()
    (notice,), _ = notices_of(world, "mail/big.eml", make_mail(SMALL_THRESHOLD + 10), settings=settings)
    url = text_link(notice)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["604800"]  # not the 14 days asked
    stated = time.strftime("%Y-%m-%d %H:%M", time.gmtime(start + 604800))
    later = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() + 604800))
    body = notice["Content"]["Simple"]["Body"]["Text"]["Data"]
    assert f"works until {stated}" in body or f"works until {later}" in body
    assert (
        world.ddb.scan(
            TableName=TABLE,
            FilterExpression="begins_with(id, :p)",
            ExpressionAttributeValues={":p": {"S": "link#"}},
        )["Items"]
        == []
    )


def test_the_download_function_answers_503_when_the_table_fails(
    world: World, download: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise ClientError(cast(Any, {"Error": {"Code": "InternalServerError", "Message": "x"}}), "GetItem")

    monkeypatch.setattr(download.links().client, "get_item", failing)
    answer = click(download, f"{BASE}/m/{new_token()}")
    assert answer["statusCode"] == 503 and answer["headers"]["Retry-After"] == "30"


def test_a_download_the_table_cannot_count_still_gets_its_redirect(
    world: World,
    download: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The redirect is the contract; the download counter is bookkeeping (logged when it fails)."""
    (notice,), _ = notices_of(world, "mail/counted.eml", make_mail(SMALL_THRESHOLD + 10))
    url = text_link(notice)

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise ClientError(cast(Any, {"Error": {"Code": "ThrottlingException", "Message": "x"}}), "UpdateItem")

    monkeypatch.setattr(download.links().client, "update_item", failing)
    answer = click(download, url)
    assert answer["statusCode"] == 302 and "Location" in answer["headers"]
    assert any(r.getMessage() == "download not counted" for r in caplog.records)
    assert token_from_url(url) not in caplog.text + capsys.readouterr().out


def test_only_a_refused_get_counts_as_refused(
    world: World, download: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LinkRefused counts refusals a person met: not a scanner's HEAD, not an outage (503)."""
    unknown = f"{BASE}/m/{new_token()}"
    capsys.readouterr()
    assert click(download, unknown, "HEAD")["statusCode"] == 404
    assert '"LinkRefused"' not in capsys.readouterr().out
    assert click(download, unknown)["statusCode"] == 404
    assert '"LinkRefused":[1.0]' in capsys.readouterr().out

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise ClientError(cast(Any, {"Error": {"Code": "InternalServerError", "Message": "x"}}), "GetItem")

    monkeypatch.setattr(download.links().client, "get_item", failing)
    assert click(download, unknown)["statusCode"] == 503
    out = capsys.readouterr().out
    assert '"LinkRefused"' not in out and '"LinkUnavailable":[1.0]' in out
