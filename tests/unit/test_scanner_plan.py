"""The scanner's pure parts: what to do with each listed object, prefix order, the deadline,
Woomera's file, state ids, and how SES errors are classified. No sockets."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from vaultmail.errors import ConfigurationError, InvalidArguments
from vaultmail.scanner import (
    Listed,
    Scanner,
    ScanResult,
    ScanStats,
    candidate_ids,
    distinct_prefixes,
    matches,
    out_of_time,
    parse_woomera,
    plan,
    prefix_order,
    sign_link,
    signing_credentials,
)
from vaultmail.ses import SesError, SesRejected, SesSenderRejected, SesUnavailable, convert
from vaultmail.settings import Settings
from vaultmail.state import CLAIMED, FAILED, NOTIFIED, Record, cursor_id, notice_id

MIB = 1 << 20
BUCKET = "mail-bucket"
THRESHOLD = 10 * MIB
NOW = 1_700_000_000.0


def decide(objects: list[Listed], records: dict[str, Record] | None = None, **kwargs: Any) -> dict[str, str]:
    options: dict[str, Any] = dict(bucket=BUCKET, suffixes=(".eml",), threshold=THRESHOLD, now=NOW)
    options.update(kwargs)
    return {d.obj.key: d.action for d in plan(objects, records=records or {}, **options)}


def obj(key: str, size: int = THRESHOLD, etag: str = '"e1"', storage: str = "STANDARD") -> Listed:
    return Listed(key, size, etag, storage)


def test_sizes_suffixes_and_folders() -> None:
    actions = decide(
        [
            obj("m/at-threshold.eml", THRESHOLD),
            obj("m/over.eml", THRESHOLD + 1),
            obj("m/under.eml", THRESHOLD - 1),
            obj("m/UPPER.EML", 40 * MIB),
            obj("m/big.txt", 40 * MIB),
            obj("m/folder/", 0),
            obj("m/archived.eml", 40 * MIB, storage="DEEP_ARCHIVE"),
            obj("m/glacier-ir.eml", 40 * MIB, storage="GLACIER_IR"),  # instant retrieval: readable
        ]
    )
    assert actions == {
        "m/at-threshold.eml": "notify",
        "m/over.eml": "notify",
        "m/under.eml": "small",
        "m/UPPER.EML": "notify",
        "m/big.txt": "ignore",
        "m/folder/": "ignore",
        "m/archived.eml": "cold",
        "m/glacier-ir.eml": "notify",
    }


def test_no_suffixes_means_every_object() -> None:
    assert decide([obj("a/big.bin", THRESHOLD)], suffixes=()) == {"a/big.bin": "notify"}
    assert matches("x.msg", (".eml", ".msg"))
    assert not matches("dir/", ())


def test_state_decides_between_notify_notified_and_busy() -> None:
    objects = [obj(f"m/{n}.eml") for n in ("new", "done", "busy", "crashed", "failed")]
    sid = {o.key: notice_id(BUCKET, o.key, o.etag) for o in objects}
    records = {
        sid["m/done.eml"]: Record(sid["m/done.eml"], NOTIFIED),
        sid["m/busy.eml"]: Record(sid["m/busy.eml"], CLAIMED, lease_until=int(NOW) + 60),
        sid["m/crashed.eml"]: Record(sid["m/crashed.eml"], CLAIMED, lease_until=int(NOW) - 1),
        sid["m/failed.eml"]: Record(sid["m/failed.eml"], FAILED, sent=frozenset({"a@acme.com"})),
    }
    assert decide(objects, records) == {
        "m/new.eml": "notify",
        "m/done.eml": "notified",
        "m/busy.eml": "busy",
        "m/crashed.eml": "notify",  # lease expired: the claim of a crashed run is taken over
        "m/failed.eml": "notify",  # a failed send is retried
    }


def test_a_new_etag_is_a_new_mail() -> None:
    done = notice_id(BUCKET, "m/a.eml", '"old"')
    assert decide([obj("m/a.eml", etag='"new"')], {done: Record(done, NOTIFIED)}) == {"m/a.eml": "notify"}


def test_assume_notified_keys() -> None:
    actions = decide([obj("m/a.eml"), obj("m/b.eml")], assume_notified=frozenset({"m/a.eml"}))
    assert actions == {"m/a.eml": "notified", "m/b.eml": "notify"}


def test_candidate_ids_are_the_oversize_mails_only() -> None:
    objects = [obj("m/a.eml"), obj("m/b.eml", 5), obj("m/c.txt"), obj("m/d.eml", storage="GLACIER")]
    assert candidate_ids(objects, bucket=BUCKET, suffixes=(".eml",), threshold=THRESHOLD) == [
        f"notice#{BUCKET}#m/a.eml#e1"
    ]


def test_ids() -> None:
    assert notice_id("b", "k/x y.eml", '"abc-2"') == "notice#b#k/x y.eml#abc-2"
    assert cursor_id("b", "mail/") == "cursor#b#mail/"


def test_prefix_order_resumes_cut_short_prefixes_first() -> None:
    assert prefix_order(("a/", "b/", "c/"), {"b/": "b/5.eml"}) == ["b/", "a/", "c/"]
    assert prefix_order((), {}) == [""]
    assert prefix_order(("a/", "a/"), {}) == ["a/"]


def test_prefixes_inside_another_are_scanned_once() -> None:
    assert distinct_prefixes(("mail/", "mail/2025/", "other/", "mail/")) == ("mail/", "other/")
    assert distinct_prefixes(("mail/", "")) == ("",)
    assert distinct_prefixes(()) == ("",)


def test_out_of_time() -> None:
    assert not out_of_time(None, 20_000)
    assert out_of_time(lambda: 19_999, 20_000)
    assert not out_of_time(lambda: 20_000, 20_000)


def test_parse_woomera() -> None:
    doc = {
        "2015/msg/a.eml": {
            "date": "Tue, 6 Jan 2015 10:00:00 +1000",
            "emailSent": "07-01-2015",
            "email": [{"from": "a@x.com", "to": ["b@y.com"], "subject": "s"}],
        },
        "2015/msg/b.eml": {"emailSent": "garbage"},
    }
    assert parse_woomera(json.dumps(doc).encode()) == {
        "2015/msg/a.eml": "2015-01-07T00:00:00Z",
        "2015/msg/b.eml": None,
    }
    assert parse_woomera(b"") == {}  # Woomera creates an empty file on its first run
    assert parse_woomera(b'["k1.eml", "k2.eml"]') == {"k1.eml": None, "k2.eml": None}
    with pytest.raises(InvalidArguments):
        parse_woomera(b"{not json")
    with pytest.raises(InvalidArguments):
        parse_woomera(b"42")


def test_stats_keys_are_camel_case() -> None:
    d = ScanStats(already_notified=2, bytes_read=5).as_dict()
    assert d["alreadyNotified"] == 2 and d["bytesRead"] == 5 and "noRecipients" in d
    assert ScanStats(gave_up=1).as_dict()["gaveUp"] == 1


def test_a_run_halted_by_an_error_is_news_and_says_why() -> None:
    quiet = ScanResult("b", ("mail/",))
    assert not quiet.newsworthy and quiet.as_dict()["halted"] is None
    deadline = ScanResult("b", ("mail/",), complete=False)
    assert not deadline.newsworthy  # the deadline alone is routine: the next run resumes
    halted = ScanResult("b", ("mail/",), complete=False, halted="state table failed at k.eml: Throttled")
    assert halted.newsworthy and halted.as_dict()["halted"] == "state table failed at k.eml: Throttled"
    assert not halted.any_failed
    given_up = ScanResult("b", ("mail/",), stats=ScanStats(failed=1, gave_up=1))
    assert given_up.newsworthy and given_up.any_failed


def _client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(cast(Any, response), "SendEmail")


@pytest.mark.parametrize(
    ("error", "kind", "stops"),
    [
        (
            _client_error("TooManyRequestsException", "Maximum sending rate exceeded.", 429),
            SesUnavailable,
            True,
        ),
        (_client_error("LimitExceededException", "Daily message quota exceeded."), SesUnavailable, True),
        (_client_error("InternalFailure", "", 500), SesUnavailable, True),
        (EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"), SesUnavailable, True),
        (
            _client_error("MessageRejected", "Email address not verified notices@acme.com"),
            SesSenderRejected,
            True,
        ),
        (
            _client_error(
                "MessageRejected",
                "Email address is not verified. The following identities failed the check in region "
                "US-EAST-1: bob@partner.example",
            ),
            SesRejected,
            False,
        ),
        (_client_error("AccountSuspendedException", "suspended"), SesSenderRejected, True),
        (_client_error("SendingPausedException", "paused"), SesSenderRejected, True),
        (_client_error("BadRequestException", "Illegal address"), SesRejected, False),
    ],
)
def test_ses_error_classes(error: Any, kind: type[SesError], stops: bool) -> None:
    converted = convert(error, "Notices <notices@acme.com>")
    assert type(converted) is kind
    assert converted.stop_run is stops
    assert converted.exit_code == 5
    assert converted.transient is (kind is SesUnavailable)


class _Signer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], int]] = []

    def generate_presigned_url(self, op: str, Params: dict[str, Any], ExpiresIn: int) -> str:
        self.calls.append((op, Params, ExpiresIn))
        return "https://signed"


def test_sign_link_parameters() -> None:
    signer = _Signer()
    assert sign_link(signer, "b", "k.eml", filename="Report.eml", expiry=604800) == "https://signed"
    op, params, expiry = signer.calls[0]
    assert op == "get_object" and expiry == 604800
    assert params == {
        "Bucket": "b",
        "Key": "k.eml",
        "ResponseContentDisposition": 'attachment; filename="Report.eml"',
        "ResponseContentType": "message/rfc822",
    }


class _Secrets:
    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        return {"SecretString": self.value}


def test_signing_credentials() -> None:
    assert signing_credentials(_Secrets('{"accessKeyId": "AKIA1", "secretAccessKey": "s"}'), "arn") == (
        "AKIA1",
        "s",
    )
    with pytest.raises(ConfigurationError):
        signing_credentials(_Secrets('{"accessKey": "AKIA1"}'), "arn")
    with pytest.raises(ConfigurationError):
        signing_credentials(_Secrets("not json"), "arn")


def test_scanner_needs_a_bucket_and_for_a_real_run_a_sender_and_a_table() -> None:
    with pytest.raises(ConfigurationError):
        Scanner(Settings(), s3=object())
    scanner = Scanner(Settings(mail_bucket="b"), s3=object())
    with pytest.raises(ConfigurationError, match="NOTIFY_FROM, STATE_TABLE"):
        scanner.run()


def test_objects_before_the_watermark_are_decided_without_a_lookup() -> None:
    old = Listed("m/old.eml", THRESHOLD, '"e1"', last_modified=NOW - 7200)
    new = Listed("m/new.eml", THRESHOLD, '"e2"', last_modified=NOW - 60)
    unknown = Listed("m/unknown.eml", THRESHOLD, '"e3"')  # no LastModified: always looked up
    small = Listed("m/small.eml", 10, last_modified=NOW - 7200)
    mark = NOW - 3600
    ids = candidate_ids(
        [old, new, unknown, small], bucket=BUCKET, suffixes=(".eml",), threshold=THRESHOLD, watermark=mark
    )
    assert ids == [notice_id(BUCKET, "m/new.eml", '"e2"'), notice_id(BUCKET, "m/unknown.eml", '"e3"')]
    assert decide([old, new, unknown, small], watermark=mark) == {
        "m/old.eml": "seen",
        "m/new.eml": "notify",
        "m/unknown.eml": "notify",
        "m/small.eml": "small",
    }
    assert decide([old], watermark=None) == {"m/old.eml": "notify"}  # the first pass looks everything up


def test_an_arrival_event_is_one_listed_object() -> None:
    from pathlib import Path

    from vaultmail.errors import InvalidEvent
    from vaultmail.scanner.arrival import continuation, is_continuation, object_created

    path = (
        Path(__file__).parents[1]
        / "functional"
        / "fixtures"
        / "events"
        / "s3-eventbridge-object-created.json"
    )
    event = json.loads(path.read_text())
    bucket, obj = object_created(event)
    assert (bucket, obj.key, obj.size, obj.etag) == (
        "vaultmail-mail",
        "mail/arrived.eml",
        5,
        "b1946ac92492d2347c6235b4d2611184",
    )
    assert obj.last_modified == 1636675200.0  # the event's time, 2021-11-12T00:00:00Z
    with pytest.raises(InvalidEvent):
        object_created({**event, "detail-type": "Object Deleted"})
    with pytest.raises(InvalidEvent):
        object_created({**event, "detail": {}})
    assert is_continuation(json.loads(continuation(ScanResult("b", ("",))))) and not is_continuation(event)
