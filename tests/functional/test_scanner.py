"""The oversize scanner on moto over HTTP: what is notified, once, how, and what happens when
SES refuses, the deadline comes, a run crashes, or Woomera was there before."""

from __future__ import annotations

import html
import io
import json
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError

from vaultmail.errors import ConfigurationError
from vaultmail.scanner import Scanner, ScanResult, import_woomera, load_woomera
from vaultmail.scanner import listing as scanner_listing
from vaultmail.settings import Settings
from vaultmail.state import NotificationState, notice_id

from .lambdas import EVENTS, FakeContext, load_handler

MIB = 1 << 20
KIB = 1 << 10
BUCKET = "vaultmail-mail"
TABLE = "vaultmail-state"
SENDER = "notices@acme.com"
SMALL_THRESHOLD = 256 * KIB  # most tests: quick objects; the mixed-bucket test uses 10 MiB


# -- helpers ---------------------------------------------------------------------------------


def make_mail(
    size: int,
    *,
    frm: str = "Alice Sender <alice@sender.example>",
    to: str | None = "Bob <bob@acme.com>",
    cc: str | None = None,
    bcc: str | None = None,
    reply_to: str | None = None,
    subject: str = "Quarterly figures",
    extra: str = "",
) -> bytes:
    """A mail of exactly ``size`` bytes (CRLF line ends, a filler body)."""
    lines = [f"From: {frm}"]
    for name, value in (("To", to), ("Cc", cc), ("Bcc", bcc), ("Reply-To", reply_to)):
        if value is not None:
            lines.append(f"{name}: {value}")
    lines += [
        f"Subject: {subject}",
        "Date: Tue, 07 Jan 2025 10:00:00 +0000",
        "Message-ID: <m1@sender.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ]
    head = ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("utf-8")
    line = b"x" * 76 + b"\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    mail = head + body[: size - len(head)]
    assert len(mail) == size
    return mail


class RecordingSes:
    """The SES v2 client, recording each accepted SendEmail request (moto keeps no Reply-To)."""

    def __init__(self, client: Any, fail: Callable[[dict[str, Any]], Exception | None] | None = None) -> None:
        self.client = client
        self.fail = fail
        self.sent: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def send_email(self, **request: Any) -> Any:
        error = self.fail(request) if self.fail else None
        if error is not None:
            raise error
        response = self.client.send_email(**request)
        with self.lock:
            self.sent.append(request)
        return response

    def notices(self) -> list[dict[str, Any]]:
        return [r for r in self.sent if r["Content"]["Simple"]["Subject"]["Data"].startswith("Too large")]


class CountingS3:
    """The S3 client, counting the bytes of each GetObject body (and keeping the ranges asked)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.read: dict[str, int] = defaultdict(int)
        self.ranges: dict[str, list[str]] = defaultdict(list)

    def get_object(self, **kwargs: Any) -> Any:
        response = self._client.get_object(**kwargs)
        data = response["Body"].read()
        self.read[kwargs["Key"]] += len(data)
        self.ranges[kwargs["Key"]].append(kwargs.get("Range", ""))
        response["Body"] = io.BytesIO(data)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class AtomicDynamoDB:
    """A DynamoDB client whose calls never overlap (shared by concurrent scanners).

    DynamoDB applies a conditional write atomically; moto checks the condition and then
    writes, and two threads of its server can interleave in between (both "win"). Holding
    a lock around each call gives back the atomicity the claim protocol relies on; the
    scanners themselves still run concurrently (listing, reads, sends interleave).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


class FlakyDynamoDB:
    """The DynamoDB client, failing the calls ``fail(operation, kwargs)`` picks.

    ``fail`` returns an error code (raised as a ClientError, as botocore would after its own
    retries) or None (the call goes through). ``calls`` counts each operation.
    """

    def __init__(self, client: Any, fail: Callable[[str, dict[str, Any]], str | None]) -> None:
        self._client = client
        self.fail = fail
        self.calls: dict[str, int] = defaultdict(int)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(**kwargs: Any) -> Any:
            self.calls[name] += 1
            code = self.fail(name, kwargs)
            if code:
                response = {
                    "Error": {"Code": code, "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                }
                raise ClientError(cast(Any, response), name)
            return attr(**kwargs)

        return call


def write_kind(operation: str, kwargs: dict[str, Any]) -> str:
    """Which state write an UpdateItem is: claim, keep (the claim's follow-up), begin, record,
    complete, release, settle."""
    if operation != "update_item":
        return operation
    expression = kwargs.get("UpdateExpression", "")
    if kwargs.get("ReturnValues") == "ALL_NEW":
        return "claim"
    for kind, start in (
        ("keep", "ADD sent :pending REMOVE pending, expiration"),
        ("keep", "REMOVE expiration"),
        ("begin", "SET pending"),
        ("record", "ADD sent :addrs"),
        ("complete", "SET #s = :notified"),
        ("release", "SET #s = :failed"),
        ("settle", "SET #s = :settled"),
    ):
        if expression.startswith(start):
            return kind
    return "other"


def throttled(request: dict[str, Any]) -> Exception:
    response = {
        "Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."},
        "ResponseMetadata": {"HTTPStatusCode": 429},
    }
    return ClientError(cast(Any, response), "SendEmail")


def rejected(request: dict[str, Any]) -> Exception:
    response = {
        "Error": {"Code": "MessageRejected", "Message": "Illegal address"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    return ClientError(cast(Any, response), "SendEmail")


def recipients(request: dict[str, Any]) -> dict[str, list[str]]:
    d = request["Destination"]
    return {k: d.get(f"{k}Addresses", []) for k in ("To", "Cc", "Bcc")}


def told_to(ses: RecordingSes) -> list[str]:
    """Every To address of the notices SES accepted, sorted (repeats kept)."""
    return sorted(a for r in ses.notices() for a in recipients(r)["To"])


def admin_mails(ses: RecordingSes) -> list[dict[str, Any]]:
    return [r for r in ses.sent if r["Content"]["Simple"]["Subject"]["Data"].startswith("[vaultmail]")]


def link_of(request: dict[str, Any]) -> str:
    text = request["Content"]["Simple"]["Body"]["Text"]["Data"]
    match = re.search(r"^(https?://\S+)$", text, re.M)
    assert match, text
    return match.group(1)


def moto_messages(url: str) -> list[dict[str, Any]]:
    """What moto's SES accepted (its dashboard data)."""
    data = requests.get(f"{url}/moto-api/data.json", timeout=30).json()
    return list(data.get("ses", {}).get("Message", []))


@dataclass
class World:
    url: str
    s3: Any
    ddb: Any
    ses: Any
    settings: Settings
    scanners: list[Scanner] = field(default_factory=list)

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)

    def scanner(self, *, s3: Any = None, ses: Any = None, dynamodb: Any = None, **kwargs: Any) -> Scanner:
        settings = kwargs.pop("settings", self.settings)
        return Scanner(
            settings,
            s3=s3 or self.s3,
            ses=ses if ses is not None else RecordingSes(self.ses),
            dynamodb=dynamodb or self.ddb,
            signer=boto3.client("s3", config=Config(signature_version="s3v4")),
            **kwargs,
        )

    def state(self) -> NotificationState:
        return NotificationState(self.ddb, TABLE)

    def item(self, key: str) -> dict[str, Any] | None:
        etag = self.s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
        found = self.ddb.get_item(TableName=TABLE, Key={"id": {"S": notice_id(BUCKET, key, etag)}})
        return found.get("Item")


def create_world(url: str, **settings: Any) -> World:
    s3, ddb, ses = boto3.client("s3"), boto3.client("dynamodb"), boto3.client("sesv2")
    s3.create_bucket(Bucket=BUCKET)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"}
    )
    ses.create_email_identity(EmailIdentity=SENDER)
    options: dict[str, Any] = dict(
        mail_bucket=BUCKET,
        scan_prefixes=("mail/",),
        size_threshold_bytes=SMALL_THRESHOLD,
        notify_from=f"Mail Notices <{SENDER}>",
        state_table=TABLE,
        link_expiry_seconds=3600,
        # the split-send tests notify mails of up to 500 recipients; the cap (default 100,
        # MAX_NOTICE_RECIPIENTS) has tests of its own (test_scanner_cap.py)
        max_notice_recipients=1000,
    )
    options.update(settings)
    return World(url, s3, ddb, ses, Settings(**options))


@pytest.fixture
def world(aws_env: Any, moto_server: Any) -> Iterator[World]:
    yield create_world(moto_server.url)


# -- what is notified, and once ------------------------------------------------------------------


def test_mixed_bucket_exactly_the_oversize_mails_once(world: World) -> None:
    settings = world.settings.with_overrides(size_threshold_bytes=10 * MIB)
    ten = 10 * MIB
    expected = {"mail/2025/at-limit.eml": ten, "mail/2025/over.eml": ten + 1, "mail/2025/UPPER.EML": ten + 1}
    others = {
        "mail/2025/under.eml": ten - 1,
        "mail/2025/small.eml": 2 * KIB,
        "mail/2025/big.txt": ten + 1,  # not a mail suffix
        "elsewhere/big.eml": ten + 1,  # not under SCAN_PREFIXES
    }
    for key, size in {**expected, **others}.items():
        world.put(key, make_mail(size, subject=key.rsplit("/", 1)[-1]))
    world.s3.put_object(Bucket=BUCKET, Key="mail/2025/", Body=b"")  # a folder marker

    ses = RecordingSes(world.ses)
    first = world.scanner(settings=settings, ses=ses).run()
    assert first.complete
    assert {o.key for o in first.outcomes if o.status == "notified"} == set(expected)
    s = first.stats
    assert (s.scanned, s.oversize, s.notified, s.already_notified, s.failed) == (7, 3, 3, 0, 0)
    assert s.oversize_bytes == sum(expected.values())
    assert len(ses.notices()) == 3

    second = world.scanner(settings=settings, ses=ses).run()
    assert (second.stats.notified, second.stats.already_notified, second.stats.bytes_read) == (0, 3, 0)
    assert len(ses.notices()) == 3  # nobody twice

    accepted = moto_messages(world.url)
    assert len(accepted) == 3
    assert all(m["source"] == f"Mail Notices <{SENDER}>" for m in accepted)

    for key in expected:  # the tag is informative; the state table decides
        tags = world.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
        assert any(t["Key"] == "vaultmail-notified" for t in tags)
        assert world.item(key)["status"]["S"] == "notified"  # type: ignore[index]
        assert "expiration" not in world.item(key)  # type: ignore[operator]


def test_concurrent_runs_notify_nobody_twice(world: World) -> None:
    keys = [f"mail/c/{i:02d}.eml" for i in range(8)]
    for i, key in enumerate(keys):
        world.put(key, make_mail(SMALL_THRESHOLD + i, to=f"user{i}@acme.com"))
    ses = RecordingSes(world.ses)
    results: list[ScanResult] = []
    barrier = threading.Barrier(2)
    dynamodb = AtomicDynamoDB(boto3.client("dynamodb"))

    def scan() -> None:
        scanner = Scanner(
            world.settings,
            s3=boto3.client("s3"),
            ses=ses,
            dynamodb=dynamodb,
            signer=boto3.client("s3", config=Config(signature_version="s3v4")),
        )
        barrier.wait()
        results.append(scanner.run())

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2
    told = [a for r in ses.notices() for a in recipients(r)["To"]]
    assert sorted(told) == sorted(f"user{i}@acme.com" for i in range(8))  # each once
    assert sum(r.stats.notified for r in results) == 8
    for r in results:  # each run saw every mail: told it, or found it taken or done
        assert r.stats.notified + r.stats.in_progress + r.stats.already_notified == 8
        assert r.stats.failed == 0
    # and two more runs, one after the other, tell nobody again
    for _ in range(2):
        assert world.scanner(ses=ses).run().stats.already_notified == 8
    assert len(ses.notices()) == 8


# -- what the notice says, and the link ----------------------------------------------------------


def test_recipients_reply_to_from_and_link(world: World) -> None:
    mail = make_mail(
        SMALL_THRESHOLD + 100,
        frm="Alice Sender <alice@sender.example>",
        to="Bob <bob@acme.com>, carol@partner.example",
        cc="Dave <dave@acme.com>",
        bcc="eve@acme.com",
        reply_to="replies@sender.example",
        subject="Quarterly figures",
    )
    world.put("mail/q1.eml", mail)
    ses = RecordingSes(world.ses)
    result = world.scanner(ses=ses).run()
    assert result.stats.notified == 1
    (request,) = ses.notices()
    assert request["FromEmailAddress"] == f"Mail Notices <{SENDER}>"  # never the original From
    assert request["ReplyToAddresses"] == ["alice@sender.example", "replies@sender.example"]
    assert recipients(request) == {
        "To": ["bob@acme.com", "carol@partner.example"],
        "Cc": ["dave@acme.com"],
        "Bcc": ["eve@acme.com"],  # hidden from the others
    }
    simple = request["Content"]["Simple"]
    assert simple["Subject"]["Data"] == "Too large to deliver: Quarterly figures"
    assert "Quarterly figures" in simple["Body"]["Html"]["Data"]
    assert {"Name": "Auto-Submitted", "Value": "auto-generated"} in simple["Headers"]

    (accepted,) = moto_messages(world.url)
    assert accepted["destinations"] == {
        "ToAddresses": ["bob@acme.com", "carol@partner.example"],
        "CcAddresses": ["dave@acme.com"],
        "BccAddresses": ["eve@acme.com"],
    }

    link = link_of(request)
    assert "X-Amz-Expires=3600" in link  # SigV4, LINK_EXPIRY_SECONDS
    download = requests.get(link, timeout=30)
    assert download.status_code == 200
    assert download.content == mail  # the exact mail
    assert download.headers["Content-Disposition"] == 'attachment; filename="Quarterly figures.eml"'
    assert download.headers["Content-Type"] == "message/rfc822"


def test_links_signed_with_the_long_lived_keys_of_the_signing_secret(world: World) -> None:
    secret = boto3.client("secretsmanager").create_secret(
        Name="vaultmail/signing",
        SecretString=json.dumps({"accessKeyId": "AKIALONGLIVEDEXAMPLE", "secretAccessKey": "long-lived"}),
    )
    mail = make_mail(SMALL_THRESHOLD, subject="Signed")
    world.put("mail/signed.eml", mail)
    settings = world.settings.with_overrides(signing_secret_arn=secret["ARN"], link_expiry_seconds=604800)
    result = Scanner.from_settings(settings).run()
    assert result.stats.notified == 1
    (accepted,) = moto_messages(world.url)
    link = html.unescape(re.search(r'href="([^"]+)"', accepted["body"]).group(1))  # type: ignore[union-attr]
    assert "X-Amz-Credential=AKIALONGLIVEDEXAMPLE%2F" in link and "X-Amz-Expires=604800" in link
    assert "X-Amz-Security-Token" not in link  # not the session's temporary credentials
    assert requests.get(link, timeout=30).content == mail


def test_reads_at_most_64_kib_of_each_mail_whose_headers_fit(world: World) -> None:
    keys = [f"mail/r/{i}.eml" for i in range(3)]
    for key in keys:
        world.put(key, make_mail(2 * MIB))
    long_headers = "".join(
        f"Received: from relay{i}.example by mx.example; Tue, 7 Jan 2025\r\n" for i in range(1500)
    )
    world.put("mail/r/long-headers.eml", make_mail(2 * MIB, extra=long_headers))
    counting = CountingS3(world.s3)
    result = world.scanner(s3=counting).run()
    assert result.stats.notified == 4
    for key in keys:
        assert counting.read[key] <= 64 * KIB
        assert counting.ranges[key] == ["bytes=0-65535"]
    # a header block over 64 KiB: the range grows, and only as far as needed
    assert 64 * KIB < counting.read["mail/r/long-headers.eml"] <= 64 * KIB + 128 * KIB
    assert result.stats.bytes_read == sum(counting.read.values())
    assert result.stats.bytes_read < 0.1 * result.stats.oversize_bytes


def test_more_than_50_recipients_are_split(world: World) -> None:
    to = ", ".join(f"to{i}@acme.com" for i in range(30))
    cc = ", ".join(f"cc{i}@acme.com" for i in range(40))
    bcc = ", ".join(f"bcc{i}@acme.com" for i in range(50))
    world.put("mail/many.eml", make_mail(SMALL_THRESHOLD, to=to, cc=cc, bcc=bcc))
    ses = RecordingSes(world.ses)
    result = world.scanner(ses=ses).run()
    assert (result.stats.notified, result.stats.notices_sent, result.stats.recipients_notified) == (1, 3, 120)
    sends = ses.notices()
    assert [sum(len(v) for v in recipients(r).values()) for r in sends] == [50, 50, 20]
    everyone = [a for r in sends for v in recipients(r).values() for a in v]
    assert len(everyone) == len(set(everyone)) == 120
    assert all(a.startswith("bcc") for r in sends for a in recipients(r)["Bcc"])
    assert len(moto_messages(world.url)) == 3  # moto refuses over 50 recipients: none was


def test_mail_without_parsable_recipients_is_counted_not_fatal(world: World) -> None:
    world.put("mail/a-nobody.eml", make_mail(SMALL_THRESHOLD, to="undisclosed-recipients:;"))
    world.put("mail/b-none.eml", make_mail(SMALL_THRESHOLD, to=None))
    world.put("mail/c-garbage.eml", make_mail(SMALL_THRESHOLD, to="not an address at all"))
    world.put("mail/d-ok.eml", make_mail(SMALL_THRESHOLD))
    world.put("mail/e-not-a-mail.eml", b"\r\n" + b"\0" * SMALL_THRESHOLD)
    result = world.scanner().run()
    s = result.stats
    assert (s.oversize, s.no_recipients, s.unreadable, s.notified, s.failed) == (5, 3, 1, 1, 0)
    statuses = {o.key: o.status for o in result.outcomes}
    assert statuses["mail/a-nobody.eml"] == "no-recipients"
    assert statuses["mail/e-not-a-mail.eml"] == "unreadable"
    assert statuses["mail/d-ok.eml"] == "notified"


def test_mails_with_nobody_to_notify_are_reported_once_then_settled(world: World) -> None:
    world.put("mail/a-nobody.eml", make_mail(SMALL_THRESHOLD, to="undisclosed-recipients:;"))
    world.put("mail/b-not-a-mail.eml", b"\r\n" + b"\0" * SMALL_THRESHOLD)
    dry = world.scanner().run(dry_run=True)
    assert (dry.stats.no_recipients, dry.stats.unreadable) == (1, 1)
    assert world.item("mail/a-nobody.eml") is None  # a dry run records nothing
    first = world.scanner().run()
    assert (first.stats.no_recipients, first.stats.unreadable, first.stats.settled) == (1, 1, 0)
    assert first.newsworthy
    item = world.item("mail/a-nobody.eml")
    assert item is not None and item["status"]["S"] == "settled"
    assert item["reason"]["S"] == "no recipient to notify" and int(item["expiration"]["N"]) > time.time()
    second = world.scanner().run()
    s = second.stats
    assert (s.oversize, s.settled, s.no_recipients, s.unreadable, s.bytes_read) == (2, 2, 0, 0, 0)
    assert not second.newsworthy  # a scheduled run would not mail the admin again
    # a new version of the object (another ETag) is looked at afresh
    world.put("mail/a-nobody.eml", make_mail(SMALL_THRESHOLD, to="carol@acme.com"))
    third = world.scanner().run()
    assert (third.stats.notified, third.stats.settled) == (1, 1)


def test_crafted_subject_with_crlf_and_html(world: World) -> None:
    subject = (
        "=?utf-8?q?Invoice=0D=0ABcc:_victim@evil.example=0D=0A=0D=0A<b>x</b>?= "
        '<script>alert("x")</script> & more'
    )
    world.put("mail/crafted.eml", make_mail(SMALL_THRESHOLD, subject=subject))
    ses = RecordingSes(world.ses)
    assert world.scanner(ses=ses).run().stats.notified == 1
    (request,) = ses.notices()
    sent_subject = request["Content"]["Simple"]["Subject"]["Data"]
    assert "\r" not in sent_subject and "\n" not in sent_subject
    assert recipients(request) == {"To": ["bob@acme.com"], "Cc": [], "Bcc": []}
    html = request["Content"]["Simple"]["Body"]["Html"]["Data"]
    assert "<script>" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in html
    (accepted,) = moto_messages(world.url)
    assert "\n" not in accepted["subject"] and "victim" not in json.dumps(accepted["destinations"])
    assert (
        'filename="Invoice Bcc_ victim_evil.example'
        in requests.get(link_of(request), timeout=30).headers["Content-Disposition"]
    )


def test_allowed_recipient_domains(world: World) -> None:
    world.put(
        "mail/x.eml", make_mail(SMALL_THRESHOLD, to="bob@acme.com, out@partner.example", cc="c@eu.acme.com")
    )
    world.put("mail/y.eml", make_mail(SMALL_THRESHOLD, to="only@partner.example"))
    ses = RecordingSes(world.ses)
    settings = world.settings.with_overrides(allowed_recipient_domains=("acme.com",))
    result = world.scanner(ses=ses, settings=settings).run()
    assert (result.stats.notified, result.stats.no_recipients) == (1, 1)
    (request,) = ses.notices()
    assert recipients(request) == {"To": ["bob@acme.com"], "Cc": ["c@eu.acme.com"], "Bcc": []}


# -- the deadline and resuming --------------------------------------------------------------------


class Clockwork:
    """get_remaining_time_in_millis: plenty for ``calls`` calls, then almost nothing."""

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def __call__(self) -> int:
        self.calls -= 1
        return 600_000 if self.calls >= 0 else 5_000


def test_run_cut_short_by_the_deadline_resumes(world: World) -> None:
    keys = [f"mail/d/{i:02d}.eml" for i in range(6)]
    for i, key in enumerate(keys):
        world.put(key, make_mail(SMALL_THRESHOLD, to=f"user{i}@acme.com"))
    world.put("mail/d/03-small.eml", make_mail(1 * KIB))
    ses = RecordingSes(world.ses)
    # one check per listing page, one before each mail: 1 + 3 calls leave time for 3 mails
    first = world.scanner(ses=ses).run(remaining_ms=Clockwork(4))
    assert not first.complete
    assert first.stats.notified == 3
    # after the last object looked at: the small one that sorts between 02 and 03
    assert world.state().get_cursor(BUCKET, "mail/") == "mail/d/03-small.eml"

    second = world.scanner(ses=ses).run(remaining_ms=FakeContext(600_000).get_remaining_time_in_millis)
    assert second.complete
    assert second.stats.notified == 3 and second.stats.already_notified == 0  # resumed after the cursor
    assert world.state().get_cursor(BUCKET, "mail/") is None  # a complete pass clears it
    told = sorted(a for r in ses.notices() for a in recipients(r)["To"])
    assert told == sorted(f"user{i}@acme.com" for i in range(6))

    third = world.scanner(ses=ses).run()
    assert (third.stats.notified, third.stats.already_notified) == (0, 6)


def test_stop_with_no_time_at_all(world: World) -> None:
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD))
    result = world.scanner().run(remaining_ms=lambda: 1_000)
    assert not result.complete and result.stats.notified == 0
    assert world.state().get_cursor(BUCKET, "mail/") is None  # nothing done: nothing to resume after


# -- failures: SES refusing, throttling, crashes ---------------------------------------------------


def test_unverified_sender_refused_then_next_run_sends(world: World) -> None:
    for i in range(3):
        world.put(f"mail/u{i}.eml", make_mail(SMALL_THRESHOLD, to=f"user{i}@acme.com"))
    world.ses.delete_email_identity(EmailIdentity=SENDER)
    first = world.scanner().run()
    # the first refusal names our sender: the run stops sending, the others wait
    assert (first.stats.failed, first.stats.deferred, first.stats.notified) == (1, 2, 0)
    assert "not verified" in (first.stopped_sending or "")
    assert world.item("mail/u0.eml")["status"]["S"] == "failed"  # type: ignore[index]
    assert world.item("mail/u1.eml") is None
    assert moto_messages(world.url) == []

    world.ses.create_email_identity(EmailIdentity=SENDER)
    second = world.scanner().run()
    assert (second.stats.notified, second.stats.failed) == (3, 0)
    assert len(moto_messages(world.url)) == 3


def test_throttled_send_releases_its_claim_and_the_next_run_sends(world: World) -> None:
    world.put("mail/t1.eml", make_mail(SMALL_THRESHOLD, to="one@acme.com"))
    world.put("mail/t2.eml", make_mail(SMALL_THRESHOLD, to="two@acme.com"))
    first = world.scanner(ses=RecordingSes(world.ses, fail=throttled)).run()
    assert (first.stats.failed, first.stats.deferred, first.stats.notified) == (1, 1, 0)
    assert first.any_failed
    item = world.item("mail/t1.eml")
    assert (
        item is not None and item["status"]["S"] == "failed" and "SesUnavailable" in item["failedReason"]["S"]
    )

    ses = RecordingSes(world.ses)
    second = world.scanner(ses=ses).run()
    assert second.stats.notified == 2
    assert sorted(a for r in ses.notices() for a in recipients(r)["To"]) == ["one@acme.com", "two@acme.com"]


def test_a_partial_send_is_finished_without_telling_anyone_twice(world: World) -> None:
    to = ", ".join(f"p{i:03d}@acme.com" for i in range(120))
    world.put("mail/partial.eml", make_mail(SMALL_THRESHOLD, to=to))
    calls = {"n": 0}

    def second_send_throttled(request: dict[str, Any]) -> Exception | None:
        calls["n"] += 1
        return throttled(request) if calls["n"] == 2 else None

    flaky = RecordingSes(world.ses, fail=second_send_throttled)
    first = world.scanner(ses=flaky).run()
    assert (first.stats.failed, first.stats.notices_sent) == (1, 1)
    ses = RecordingSes(world.ses)
    second = world.scanner(ses=ses).run()
    assert second.stats.notified == 1 and second.stats.recipients_notified == 70
    told = [a for r in flaky.notices() + ses.notices() for a in recipients(r)["To"]]
    assert sorted(told) == sorted(f"p{i:03d}@acme.com" for i in range(120))  # each exactly once


def test_a_crashed_runs_claim_expires_and_is_retried(world: World) -> None:
    world.put("mail/crash.eml", make_mail(SMALL_THRESHOLD))
    world.put("mail/busy.eml", make_mail(SMALL_THRESHOLD))
    state = world.state()
    for key in ("mail/crash.eml", "mail/busy.eml"):
        etag = world.s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
        assert state.claim(notice_id(BUCKET, key, etag), owner="crashed-run", lease_seconds=600)
    # the crash claim's lease ran out a while ago; the busy one is still held
    crash_id = notice_id(
        BUCKET, "mail/crash.eml", world.s3.head_object(Bucket=BUCKET, Key="mail/crash.eml")["ETag"]
    )
    world.ddb.update_item(
        TableName=TABLE,
        Key={"id": {"S": crash_id}},
        UpdateExpression="SET leaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 5)}},
    )
    result = world.scanner().run()
    assert (result.stats.notified, result.stats.in_progress) == (1, 1)
    assert [o.key for o in result.outcomes if o.status == "notified"] == ["mail/crash.eml"]


def test_an_unexpected_error_gives_the_claim_back_at_once(world: World) -> None:
    class NoSigner:
        def generate_presigned_url(self, *args: Any, **kwargs: Any) -> str:
            raise NoCredentialsError()

    world.put("mail/x.eml", make_mail(SMALL_THRESHOLD))
    scanner = world.scanner()
    scanner.signer = NoSigner()
    with pytest.raises(ConfigurationError, match="cannot sign"):
        scanner.run()
    item = world.item("mail/x.eml")
    assert item is not None and item["status"]["S"] == "failed"  # not left claimed for the lease
    assert world.scanner().run().stats.notified == 1


# -- failures: SES rejecting some recipients --------------------------------------------------------


class Rejecting:
    """SES that rejects every message with one of ``bad`` among its recipients (as SES does for
    an address it will not take), counting every SendEmail tried."""

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad
        self.tried = 0
        self.sends: list[set[str]] = []  # the recipients of each SendEmail tried

    def __call__(self, request: dict[str, Any]) -> Exception | None:
        self.tried += 1
        to = {a for v in recipients(request).values() for a in v}
        self.sends.append(to)
        return rejected(request) if self.bad & to else None


def test_a_rejected_address_holds_back_nobody_and_is_given_up_after_5_runs(world: World) -> None:
    to = [f"r{i:03d}@acme.com" for i in range(90)]
    bcc = [f"b{i:02d}@acme.com" for i in range(30)]
    bad = {"r010@acme.com", "b05@acme.com"}  # in the first send, and in the Bcc of the second
    world.put("mail/big.eml", make_mail(SMALL_THRESHOLD, to=", ".join(to), bcc=", ".join(bcc)))
    settings = world.settings.with_overrides(admin_email="admin@acme.com")
    told: Counter[str] = Counter()
    stats_mails = 0
    results = []
    for _ in range(6):
        fail = Rejecting(bad)
        ses = RecordingSes(world.ses, fail=fail)
        results.append(world.scanner(ses=ses, settings=settings).run(send_stats="news"))
        for request in ses.notices():
            kinds = recipients(request)
            assert all(a.startswith("r") for a in kinds["To"]) and not kinds["Cc"]
            assert all(a.startswith("b") for a in kinds["Bcc"])  # a Bcc recipient stays hidden
            told.update(a for v in kinds.values() for a in v)
        stats_mails += len(admin_mails(ses))
        assert fail.tried <= 3 + 50  # the three sends, and at most SPLIT_SENDS more to get around
    first, *middle, fifth, sixth = results
    # the first run tells everyone SES takes, later sends included, and records them
    assert set(told) == set(to + bcc) - bad and set(told.values()) == {1}
    assert (first.stats.failed, first.stats.gave_up, first.stats.notified) == (1, 0, 0)
    assert first.stats.recipients_notified == 118
    (outcome,) = first.outcomes
    assert outcome.status == "failed" and "2 of 120" in (outcome.error or "")
    # the runs after try only the two rejected addresses (each alone), and give up on the fifth
    for run in middle:
        assert (run.stats.failed, run.stats.gave_up, run.stats.notices_sent) == (1, 0, 0)
    assert (fifth.stats.failed, fifth.stats.gave_up, fifth.stats.notices_sent) == (1, 1, 0)
    assert [o.status for o in fifth.outcomes] == ["given-up"]
    assert "b05@acme.com (rejected by SES)" in fifth.outcomes[0].dropped
    item = world.item("mail/big.eml")
    assert item is not None and item["status"]["S"] == "settled"
    assert item["reason"]["S"] == "SES rejected 2 recipients after 5 attempts"
    assert item["rejections"]["N"] == "4" and item["attempts"]["N"] == "5"
    assert sorted(item["rejectedAlone"]["SS"]) == sorted(bad)
    assert "expiration" not in item and "pending" not in item and "owner" not in item
    assert len(item["sent"]["SS"]) == 118  # kept for good: nobody is told twice, ever
    # then the mail is settled: no send, no news, no admin mail
    assert (sixth.stats.settled, sixth.stats.failed, sixth.stats.notices_sent) == (1, 0, 0)
    assert not sixth.newsworthy and stats_mails == 5
    assert set(told.values()) == {1}


def test_an_address_rejected_alone_is_tried_alone_again_and_told_once_ses_takes_it(world: World) -> None:
    world.put("mail/s.eml", make_mail(SMALL_THRESHOLD, to="ok1@acme.com, new@acme.com, ok2@acme.com"))
    fail = Rejecting({"new@acme.com"})  # say, not yet verified in the SES sandbox
    ses = RecordingSes(world.ses, fail=fail)
    first = world.scanner(ses=ses).run()
    assert (first.stats.failed, first.stats.recipients_notified) == (1, 2)
    assert "attempt 1 of 5" in (first.outcomes[0].error or "")
    item = world.item("mail/s.eml")
    assert item is not None and item["rejectedAlone"]["SS"] == ["new@acme.com"]
    assert item["rejections"]["N"] == "1"
    fail = Rejecting(set())  # verified now
    later = RecordingSes(world.ses, fail=fail)
    second = world.scanner(ses=later).run()
    assert second.stats.notified == 1 and fail.sends == [{"new@acme.com"}]
    assert told_to(ses) + told_to(later) == ["ok1@acme.com", "ok2@acme.com", "new@acme.com"]
    item = world.item("mail/s.eml")
    assert item is not None and item["status"]["S"] == "notified" and len(item["sent"]["SS"]) == 3


def test_a_mail_whose_every_recipient_is_rejected_costs_bounded_sends_then_settles(world: World) -> None:
    everyone = {f"r{i:03d}@acme.com" for i in range(120)}
    world.put("mail/sandbox.eml", make_mail(SMALL_THRESHOLD, to=", ".join(sorted(everyone))))
    tries, rejections, found = [], [0], [0]
    for _ in range(20):
        fail = Rejecting(everyone)
        result = world.scanner(ses=RecordingSes(world.ses, fail=fail)).run()
        tries.append(fail.tried)
        assert result.stats.failed == 1 and result.stats.notices_sent == 0
        item = world.item("mail/sandbox.eml")
        assert item is not None
        rejections.append(int(item.get("rejections", {}).get("N", "0")))
        found.append(len(item.get("rejectedAlone", {}).get("SS", ())))
        if result.stats.gave_up:
            break
        if found[-1] < len(everyone):  # the budget did not reach everyone: not a rejection run
            assert rejections[-1] == 0 and found[-1] > found[-2]
            assert "not tried alone yet" in (result.outcomes[0].error or "")
    assert max(tries) <= 3 + 50 and min(tries) > 3  # halves were tried, within the budget
    # an address counts as rejected once SES refused it alone: 50 extra sends find about 25
    # a run; then five runs with nobody else left (the addresses retried alone) give up
    assert found[-1] == len(everyone) and rejections[-2:] == [4, 4] and len(tries) > 5
    assert result.stats.gave_up == 1
    item = world.item("mail/sandbox.eml")
    assert item is not None and item["status"]["S"] == "settled"
    assert item["reason"]["S"] == "SES rejected 120 recipients after 5 attempts"
    assert set(item["rejectedAlone"]["SS"]) == everyone and "sent" not in item
    assert int(item["expiration"]["N"]) > time.time()  # nobody was told: looked at again in 90 days
    fail = Rejecting(set())
    assert world.scanner(ses=RecordingSes(world.ses, fail=fail)).run().stats.settled == 1
    assert fail.tried == 0
    # with no extra sends allowed, a run costs exactly its three sends
    world.put("mail/sandbox2.eml", make_mail(SMALL_THRESHOLD, to=", ".join(sorted(everyone))))
    fail = Rejecting(everyone)
    world.scanner(ses=RecordingSes(world.ses, fail=fail), split_sends=0).run()
    assert fail.tried == 3


def test_rejections_spread_over_many_sends_never_hold_back_valid_recipients(world: World) -> None:
    # A reviewer's case: 500 recipients, every 10th rejected by SES. The split budget (50
    # extra sends a run) cannot find them all in one run: the recipients it does not reach
    # wait for the next run, and only the addresses SES refused alone count as rejected.
    to = [f"u{i:03d}@acme.com" for i in range(500)]
    bad = set(to[::10])
    world.put("mail/many.eml", make_mail(SMALL_THRESHOLD, to=", ".join(to)))
    told: Counter[str] = Counter()
    runs: list[ScanResult] = []
    known: set[str] = set()  # rejected alone in an earlier run
    for _ in range(40):
        fail = Rejecting(bad)
        ses = RecordingSes(world.ses, fail=fail)
        runs.append(world.scanner(ses=ses).run())
        told.update(a for r in ses.notices() for a in recipients(r)["To"])
        assert fail.tried <= 10 + 50  # the ten sends, and at most SPLIT_SENDS more
        if "not tried alone yet" in (runs[-1].outcomes[0].error or ""):
            assert not any(known & sent for sent in fail.sends)  # no budget spent on them
        else:  # nobody else was waiting: they were tried again, each alone
            assert all(len(sent) == 1 for sent in fail.sends if known & sent)
        item = world.item("mail/many.eml")
        assert item is not None
        known = set(item.get("rejectedAlone", {}).get("SS", ()))
        assert known <= bad  # never a valid address
        if item["status"]["S"] == "settled":
            break
    assert set(told) == set(to) - bad and set(told.values()) == {1}  # every valid one, once
    assert all(a not in told for a in bad)
    assert item["reason"]["S"] == "SES rejected 50 recipients after 5 attempts"
    assert set(item["rejectedAlone"]["SS"]) == bad and len(item["sent"]["SS"]) == 450
    assert item["rejections"]["N"] == "4" and "expiration" not in item
    last = runs[-1]
    assert (last.stats.gave_up, last.outcomes[0].status) == (1, "given-up")
    assert sum(r.stats.recipients_notified for r in runs) == 450
    # the runs that left valid recipients untried did not count toward giving up
    counted = [r for r in runs if "attempt " in (r.outcomes[0].error or "")]
    assert len(counted) == 4 and all("not tried alone" not in (r.outcomes[0].error or "") for r in counted)
    # then it is settled: nothing more is sent
    fail = Rejecting(bad)
    assert world.scanner(ses=RecordingSes(world.ses, fail=fail)).run().stats.settled == 1
    assert fail.tried == 0


def test_a_throttle_while_getting_around_a_rejection_stops_the_run(world: World) -> None:
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD, to="bad@acme.com, ok1@acme.com, ok2@acme.com"))
    world.put("mail/b.eml", make_mail(SMALL_THRESHOLD, to="later@acme.com"))
    calls = {"n": 0}

    def reject_then_throttle(request: dict[str, Any]) -> Exception | None:
        calls["n"] += 1
        return rejected(request) if calls["n"] == 1 else throttled(request)

    result = world.scanner(ses=RecordingSes(world.ses, fail=reject_then_throttle)).run()
    assert (result.stats.failed, result.stats.deferred, result.stats.notices_sent) == (1, 1, 0)
    assert result.stopped_sending and calls["n"] == 2  # the first half throttled: nothing more tried
    item = world.item("mail/a.eml")
    assert item is not None and item["status"]["S"] == "failed"
    assert "rejections" not in item and "pending" not in item  # a throttle is not a rejection
    ses = RecordingSes(world.ses)
    assert world.scanner(ses=ses).run().stats.notified == 2


# -- failures: the state table ------------------------------------------------------------------------


def failing(kind: str, times: int | None = None, code: str = "ProvisionedThroughputExceededException") -> Any:
    """A ``fail`` for FlakyDynamoDB: the state writes of ``kind``, ``times`` times (None: always)."""
    left = {"n": times}

    def fail(operation: str, kwargs: dict[str, Any]) -> str | None:
        if write_kind(operation, kwargs) != kind or left["n"] == 0:
            return None
        if left["n"] is not None:
            left["n"] -= 1
        return code

    return fail


def test_a_record_that_fails_once_after_a_send_is_tried_again(world: World) -> None:
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD, to="bob@acme.com"))
    world.put("mail/b.eml", make_mail(SMALL_THRESHOLD, to="carol@acme.com", subject="second"))
    sleeps: list[float] = []
    ses = RecordingSes(world.ses)
    ddb = FlakyDynamoDB(world.ddb, failing("record", times=1))
    result = world.scanner(ses=ses, dynamodb=ddb, sleep=sleeps.append).run()
    assert (result.stats.notified, result.stats.failed) == (2, 0) and result.complete
    assert sleeps == [0.2]  # one short pause, injected
    assert world.item("mail/a.eml")["sent"]["SS"] == ["bob@acme.com"]  # type: ignore[index]
    world.scanner(ses=ses).run()
    assert told_to(ses) == ["bob@acme.com", "carol@acme.com"]


def test_a_send_that_cannot_be_recorded_is_never_sent_again(world: World) -> None:
    first_batch = [f"p{i:03d}@acme.com" for i in range(50)]
    rest = [f"p{i:03d}@acme.com" for i in range(50, 60)]
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD, to=", ".join(first_batch + rest)))
    world.put("mail/b.eml", make_mail(SMALL_THRESHOLD, to="carol@acme.com", subject="second"))
    sleeps: list[float] = []

    def table_down_after_the_first_send(operation: str, kwargs: dict[str, Any]) -> str | None:
        key = kwargs.get("Key", {}).get("id", {}).get("S", "")
        kind = write_kind(operation, kwargs)
        return "InternalServerError" if "mail/a.eml" in key and kind in ("record", "release") else None

    ses = RecordingSes(world.ses)
    ddb = FlakyDynamoDB(world.ddb, table_down_after_the_first_send)
    result = world.scanner(ses=ses, dynamodb=ddb, sleep=sleeps.append).run()  # does not raise
    assert result.complete and result.halted is None
    assert (result.stats.failed, result.stats.notified, result.stats.notices_sent) == (1, 1, 2)
    assert [o.status for o in result.outcomes] == ["failed", "notified"]  # and the run went on to b
    assert len(sleeps) == 2 * 2  # the record, then the release at the end: three tries each
    item = world.item("mail/a.eml")
    # not released: the claim holds until its lease ends, with the send written ahead
    assert item is not None and item["status"]["S"] == "claimed"
    assert sorted(item["pending"]["SS"]) == first_batch and "sent" not in item

    world.ddb.update_item(  # the lease runs out
        TableName=TABLE,
        Key={"id": item["id"]},
        UpdateExpression="SET leaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 5)}},
    )
    later = RecordingSes(world.ses)
    second = world.scanner(ses=later).run()
    assert second.stats.notified == 1 and second.stats.recipients_notified == 10
    assert [recipients(r)["To"] for r in later.notices()] == [rest]  # the first 50 are not told again
    told = [a for r in ses.notices() + later.notices() for a in recipients(r)["To"]]
    assert sorted(told) == sorted(first_batch + rest + ["carol@acme.com"])  # each exactly once
    done = world.item("mail/a.eml")
    assert done is not None and done["status"]["S"] == "notified" and "pending" not in done


def test_a_send_not_recorded_is_recorded_at_the_end_of_the_run(world: World) -> None:
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD, to="bob@acme.com"))
    world.put("mail/b.eml", make_mail(SMALL_THRESHOLD, to="carol@acme.com", subject="second"))
    ses = RecordingSes(world.ses)
    ddb = FlakyDynamoDB(world.ddb, failing("record", times=3))  # every try of the first record
    result = world.scanner(ses=ses, dynamodb=ddb, sleep=lambda s: None).run()
    assert (result.stats.failed, result.stats.notified) == (1, 1)
    (failed, _) = result.outcomes
    assert failed.status == "failed" and "record sent" in (failed.error or "")
    item = world.item("mail/a.eml")  # ended at the end of the run, with bob recorded
    assert item is not None and item["status"]["S"] == "notified" and item["sent"]["SS"] == ["bob@acme.com"]
    again = world.scanner(ses=ses).run()
    assert (again.stats.already_notified, again.stats.notices_sent) == (2, 0)
    assert told_to(ses) == ["bob@acme.com", "carol@acme.com"]


def test_the_state_table_failing_on_a_page_stops_the_run_with_a_cursor(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner_listing, "PAGE_SIZE", 2)
    keys = [f"mail/p{i}.eml" for i in range(5)]
    for i, key in enumerate(keys):
        world.put(key, make_mail(SMALL_THRESHOLD, to=f"user{i}@acme.com"))
    ses = RecordingSes(world.ses)
    settings = world.settings.with_overrides(admin_email="admin@acme.com")
    ddb = FlakyDynamoDB(world.ddb, lambda op, kw: "InternalServerError" if op == "batch_get_item" else None)
    ddb.fail = lambda op, kw: "InternalServerError" if op == "batch_get_item" and ddb.calls[op] == 2 else None
    first = world.scanner(ses=ses, dynamodb=ddb, settings=settings).run(send_stats="news")  # no raise
    assert not first.complete and "state table failed" in (first.halted or "")
    assert first.as_dict()["halted"] == first.halted and first.newsworthy
    assert first.stats.notified == 2
    assert world.state().get_cursor(BUCKET, "mail/") == "mail/p1.eml"  # the page that failed is next
    (stats_mail,) = admin_mails(ses)
    assert "stopped early: state table failed" in stats_mail["Content"]["Simple"]["Body"]["Text"]["Data"]

    second = world.scanner(ses=ses).run()
    assert second.complete and second.halted is None
    assert (second.stats.notified, second.stats.already_notified) == (3, 0)  # resumed at the cursor
    assert world.state().get_cursor(BUCKET, "mail/") is None
    assert told_to(ses) == [f"user{i}@acme.com" for i in range(5)]


def test_a_claim_the_state_table_refuses_stops_the_run_at_that_mail(world: World) -> None:
    for i in range(4):
        world.put(f"mail/c{i}.eml", make_mail(SMALL_THRESHOLD, to=f"user{i}@acme.com"))
    ses = RecordingSes(world.ses)

    def second_claim_fails(operation: str, kwargs: dict[str, Any]) -> str | None:
        hit = write_kind(operation, kwargs) == "claim" and "mail/c1.eml" in kwargs["Key"]["id"]["S"]
        return "ProvisionedThroughputExceededException" if hit else None

    first = world.scanner(ses=ses, dynamodb=FlakyDynamoDB(world.ddb, second_claim_fails)).run()
    assert not first.complete and "mail/c1.eml" in (first.halted or "")
    assert (first.stats.notified, first.stats.failed) == (1, 0)
    assert world.state().get_cursor(BUCKET, "mail/") == "mail/c0.eml"
    assert world.item("mail/c1.eml") is None
    second = world.scanner(ses=ses).run()
    assert second.complete and second.stats.notified == 3
    assert told_to(ses) == [f"user{i}@acme.com" for i in range(4)]


def crashed_after_a_send(world: World, key: str, told: list[str]) -> str:
    """The item of ``key`` as a run leaves it that crashed after sending to ``told`` (written
    ahead, never recorded), its lease run out. Returns the item id."""
    state = world.state()
    item_id = notice_id(BUCKET, key, world.s3.head_object(Bucket=BUCKET, Key=key)["ETag"])
    claim = state.claim(item_id, owner="crashed-run", lease_seconds=600)
    assert claim is not None
    state.begin_send(claim, told)
    expire_lease(world, item_id)
    return item_id


def expire_lease(world: World, item_id: str) -> None:
    world.ddb.update_item(
        TableName=TABLE,
        Key={"id": {"S": item_id}},
        UpdateExpression="SET leaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 5)}},
    )


def test_a_claim_whose_follow_up_write_fails_is_not_stranded(world: World) -> None:
    crashed = [f"p{i:03d}@acme.com" for i in range(50)]
    rest = [f"p{i:03d}@acme.com" for i in range(50, 60)]
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD, to=", ".join(crashed + rest)))
    world.put("mail/b.eml", make_mail(SMALL_THRESHOLD, to="carol@acme.com", subject="second"))
    crashed_after_a_send(world, "mail/a.eml", crashed)
    ses = RecordingSes(world.ses)
    ddb = FlakyDynamoDB(world.ddb, failing("keep"))  # the write after the claim, every time
    result = world.scanner(ses=ses, dynamodb=ddb, sleep=lambda s: None).run()
    assert result.complete and result.halted is None
    assert (result.stats.notified, result.stats.failed) == (2, 0)
    assert [recipients(r)["To"] for r in ses.notices()] == [rest, ["carol@acme.com"]]
    item = world.item("mail/a.eml")  # the pending recipients went into `sent` with the next write
    assert item is not None and item["status"]["S"] == "notified"
    assert sorted(item["sent"]["SS"]) == crashed + rest
    assert "pending" not in item and "expiration" not in item and "owner" not in item
    again = world.scanner(ses=ses).run()
    assert (again.stats.already_notified, again.stats.notices_sent) == (2, 0)


def test_a_failed_follow_up_write_still_keeps_a_told_item_from_expiring(world: World) -> None:
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD, to="bob@acme.com, carol@acme.com"))
    state = world.state()
    item_id = notice_id(BUCKET, "mail/a.eml", world.s3.head_object(Bucket=BUCKET, Key="mail/a.eml")["ETag"])
    earlier = state.claim(item_id, owner="earlier-run")
    assert earlier is not None
    state.release(state.record_sent(earlier, ["bob@acme.com"]), reason="SesUnavailable: throttled")
    ddb = FlakyDynamoDB(world.ddb, failing("keep"))  # so the claim's `expiration` stays, for now
    first = world.scanner(ses=RecordingSes(world.ses, fail=throttled), dynamodb=ddb).run()
    assert first.halted is None and first.stats.failed == 1 and first.stopped_sending
    item = world.item("mail/a.eml")  # released at once, not left claimed for the lease
    assert item is not None and item["status"]["S"] == "failed" and "owner" not in item
    assert "expiration" not in item and item["sent"]["SS"] == ["bob@acme.com"]
    ses = RecordingSes(world.ses)
    assert world.scanner(ses=ses).run().stats.notified == 1
    assert told_to(ses) == ["carol@acme.com"]


def test_a_failed_follow_up_write_then_a_crash_tells_nobody_twice(world: World) -> None:
    crashed = [f"p{i:03d}@acme.com" for i in range(50)]
    rest = [f"p{i:03d}@acme.com" for i in range(50, 60)]
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD, to=", ".join(crashed + rest)))
    item_id = crashed_after_a_send(world, "mail/a.eml", crashed)

    def table_down_after_the_claim(operation: str, kwargs: dict[str, Any]) -> str | None:
        kind = write_kind(operation, kwargs)
        return "InternalServerError" if kind in ("keep", "record", "complete", "release") else None

    ses = RecordingSes(world.ses)
    ddb = FlakyDynamoDB(world.ddb, table_down_after_the_claim)
    first = world.scanner(ses=ses, dynamodb=ddb, sleep=lambda s: None).run()
    assert first.stats.failed == 1 and [recipients(r)["To"] for r in ses.notices()] == [rest]
    item = world.item("mail/a.eml")  # left to its lease: the write ahead still names everyone
    assert item is not None and item["status"]["S"] == "claimed"
    assert sorted(item["pending"]["SS"]) == crashed + rest
    expire_lease(world, item_id)
    later = RecordingSes(world.ses)
    second = world.scanner(ses=later).run()
    assert second.stats.notified == 1 and later.notices() == []  # nobody told twice
    done = world.item("mail/a.eml")
    assert done is not None and sorted(done["sent"]["SS"]) == crashed + rest


def test_a_configuration_error_after_a_send_gives_the_claim_back_with_who_was_told(world: World) -> None:
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD, to="bob@acme.com"))
    ses = RecordingSes(world.ses)
    ddb = FlakyDynamoDB(world.ddb, failing("record", code="AccessDeniedException"))
    with pytest.raises(ConfigurationError, match="STATE_TABLE"):
        world.scanner(ses=ses, dynamodb=ddb).run()
    item = world.item("mail/a.eml")  # released at once, and bob (told) recorded in the same write
    assert item is not None and item["status"]["S"] == "failed" and item["sent"]["SS"] == ["bob@acme.com"]
    assert "pending" not in item
    assert world.scanner(ses=ses).run().stats.notified == 1
    assert told_to(ses) == ["bob@acme.com"]  # not twice


@pytest.mark.parametrize("operation", ["batch_get_item", "update_item"])
def test_a_state_table_we_may_not_use_is_still_a_configuration_error(world: World, operation: str) -> None:
    world.put("mail/a.eml", make_mail(SMALL_THRESHOLD))
    ddb = FlakyDynamoDB(world.ddb, lambda op, kw: "AccessDeniedException" if op == operation else None)
    with pytest.raises(ConfigurationError, match="STATE_TABLE"):
        world.scanner(dynamodb=ddb).run()


# -- Woomera, stats, the handler ---------------------------------------------------------------------


def test_woomera_processed_emails_imported(world: World) -> None:
    for name in ("a", "b", "c"):
        world.put(f"mail/w/{name}.eml", make_mail(SMALL_THRESHOLD, to=f"{name}@acme.com"))
    woomera = {
        f"mail/w/{name}.eml": {
            "date": "Tue, 6 Jan 2015 10:00:00 +1000",
            "emailSent": "07-01-2015",
            "email": [{"from": "x@sender.example", "to": [f"{name}@acme.com"], "subject": "s"}],
        }
        for name in ("a", "b", "gone")
    }
    world.put("mail/_PROCESSING/processedEmails.json", json.dumps(woomera).encode())
    entries = load_woomera(world.s3, BUCKET, "mail/_PROCESSING/processedEmails.json")
    imported = import_woomera(world.s3, world.state(), BUCKET, entries)
    assert (imported.entries, imported.imported, imported.existing, imported.missing) == (3, 2, 0, 1)
    assert world.item("mail/w/a.eml")["notifiedAt"]["S"] == "2015-01-07T00:00:00Z"  # type: ignore[index]
    again = import_woomera(world.s3, world.state(), BUCKET, entries)
    assert (again.imported, again.existing) == (0, 2)

    ses = RecordingSes(world.ses)
    result = world.scanner(ses=ses).run()
    assert (result.stats.notified, result.stats.already_notified) == (1, 2)
    assert [recipients(r)["To"] for r in ses.notices()] == [["c@acme.com"]]


def test_woomera_import_wins_over_failed_and_crashed_attempts_but_not_a_live_claim(world: World) -> None:
    """A switch-over where vaultmail ran before the import: nobody Woomera told is told again."""
    keys = ("mail/w/failed.eml", "mail/w/crashed.eml", "mail/w/live.eml")
    world.put(keys[0], make_mail(SMALL_THRESHOLD, to="someone@acme.com"))
    first = world.scanner(ses=RecordingSes(world.ses, fail=throttled)).run()
    assert world.item(keys[0])["status"]["S"] == "failed"  # type: ignore[index]
    for key in keys[1:]:
        world.put(key, make_mail(SMALL_THRESHOLD, to="someone@acme.com"))
    ids = {key: notice_id(BUCKET, key, world.s3.head_object(Bucket=BUCKET, Key=key)["ETag"]) for key in keys}
    state = world.state()
    for key in keys[1:]:
        assert state.claim(ids[key], owner="other-run", lease_seconds=600)
    world.ddb.update_item(
        TableName=TABLE,
        Key={"id": {"S": ids["mail/w/crashed.eml"]}},
        UpdateExpression="SET leaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 5)}},
    )
    assert first.stats.failed == 1

    imported = import_woomera(world.s3, state, BUCKET, {key: "2015-01-07T00:00:00Z" for key in keys})
    assert (imported.imported, imported.existing) == (2, 1)  # the live claim is left to its run
    for key in ("mail/w/failed.eml", "mail/w/crashed.eml"):
        item = world.item(key)
        assert item is not None and item["status"]["S"] == "notified"
        assert not {"expiration", "leaseUntil", "owner", "pending"} & item.keys()  # kept for good
    ses = RecordingSes(world.ses)
    result = world.scanner(ses=ses).run()
    assert (result.stats.notified, result.stats.already_notified, result.stats.in_progress) == (0, 2, 1)
    assert ses.notices() == []


def test_admin_stats_mail(world: World) -> None:
    world.put("mail/s1.eml", make_mail(SMALL_THRESHOLD))
    ses = RecordingSes(world.ses)
    settings = world.settings.with_overrides(admin_email="admin@acme.com")
    world.scanner(ses=ses, settings=settings).run()
    stats_mails = [r for r in ses.sent if r["Content"]["Simple"]["Subject"]["Data"].startswith("[vaultmail]")]
    assert len(stats_mails) == 1
    request = stats_mails[0]
    assert recipients(request)["To"] == ["admin@acme.com"]
    assert request["Content"]["Simple"]["Subject"]["Data"].endswith("1 notified, 0 failed")
    text = request["Content"]["Simple"]["Body"]["Text"]["Data"]
    for label in (
        "objects listed",
        "oversize mails",
        "notified in this run",
        "already notified before",
        "notices failed",
        "no recipient to notify",
        "bytes of oversize mail",
    ):
        assert label in text


def test_dry_run_sends_and_records_nothing(world: World) -> None:
    world.put("mail/dry.eml", make_mail(SMALL_THRESHOLD))
    ses = RecordingSes(world.ses)
    result = world.scanner(ses=ses).run(dry_run=True)
    assert [(o.key, o.status, o.recipients) for o in result.outcomes] == [
        ("mail/dry.eml", "would-notify", ("bob@acme.com",))
    ]
    assert ses.sent == [] and world.item("mail/dry.eml") is None


SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2025-01-07T10:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/vaultmail-oversize-scan"],
    "detail": {},
}


def test_handler_on_a_scheduled_event(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.put("mail/h1.eml", make_mail(SMALL_THRESHOLD, to="h1@acme.com"))
    world.put("mail/h2.eml", make_mail(SMALL_THRESHOLD, to="h2@acme.com"))
    for name, value in {
        "MAIL_BUCKET": BUCKET,
        "SCAN_PREFIXES": "mail/",
        "SIZE_THRESHOLD_BYTES": str(SMALL_THRESHOLD),
        "NOTIFY_FROM": SENDER,
        "STATE_TABLE": TABLE,
        "ADMIN_EMAIL": "admin@acme.com",
        "POWERTOOLS_SERVICE_NAME": "vaultmail-scanner",
        "POWERTOOLS_METRICS_NAMESPACE": "VaultmailScanTest",
    }.items():
        monkeypatch.setenv(name, value)
    from vaultmail.settings import get_settings

    get_settings.cache_clear()
    import importlib

    from vaultmail import runtime

    importlib.reload(runtime)  # Logger and Metrics read POWERTOOLS_* when the module loads (cold start)
    try:
        app = load_handler("oversize_scanner")
        path = Path(EVENTS) / "scheduled.json"
        event = json.loads(path.read_text()) if path.exists() else SCHEDULED
        result = app.lambda_handler(event, FakeContext(120_000))
        again = app.lambda_handler(event, FakeContext(120_000))
    finally:
        get_settings.cache_clear()
    assert result["notified"] == 2 and result["complete"] is True
    assert again["notified"] == 0 and again["alreadyNotified"] == 2
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf, "no metrics were flushed"
    first = emf[0]
    assert first["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "VaultmailScanTest"
    assert (first["MailsNotified"], first["OversizeMails"], first["NoticesFailed"]) == ([2.0], [2.0], [0.0])
    # scheduled runs mail the admin only when there is news: the first run, not the quiet second
    assert len([m for m in moto_messages(world.url) if m["subject"].startswith("[vaultmail]")]) == 1


def test_handler_when_the_state_table_fails_returns_and_emits_its_metrics(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.put("mail/h1.eml", make_mail(SMALL_THRESHOLD, to="h1@acme.com"))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "VaultmailScanTest")
    import importlib

    from vaultmail import runtime

    importlib.reload(runtime)
    app = load_handler("oversize_scanner")
    ddb = FlakyDynamoDB(world.ddb, lambda op, kw: "InternalServerError" if op == "batch_get_item" else None)
    monkeypatch.setattr(app, "scanner", lambda settings: world.scanner(dynamodb=ddb))
    from vaultmail.settings import get_settings

    try:
        result = app.lambda_handler(SCHEDULED, FakeContext(120_000))  # does not raise
    finally:
        get_settings.cache_clear()
    assert result["complete"] is False and "state table failed" in result["halted"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[0]["ScanIncomplete"] == [1.0] and emf[0]["ObjectsScanned"] == [0.0]
