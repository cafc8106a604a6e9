"""Ranged reads of a mail's header block from S3 (a fake client: no sockets)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from vaultmail.errors import StorageError
from vaultmail.s3 import AccessDenied, MailGone, ObjectRef, converted, read_head_bytes, read_headers


class FakeS3:
    """get_object with Range support over bytes, counting what it served."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.served = 0
        self.ranges: list[str] = []

    def get_object(self, *, Bucket: str, Key: str, Range: str, **kw: Any) -> dict[str, Any]:
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", Range)
        assert m
        start, end = int(m.group(1)), int(m.group(2))
        chunk = self.data[start : end + 1]
        self.served += len(chunk)
        self.ranges.append(Range)
        return {"Body": io.BytesIO(chunk)}


REF = ObjectRef("bucket", "key.eml", etag='"abc"')
HEAD = b"From: a@acme.com\r\nTo: b@acme.com\r\nSubject: big\r\n"


def test_small_header_costs_one_64k_range_of_a_big_mail() -> None:
    s3 = FakeS3(HEAD + b"\r\n" + b"x" * (20 << 20))
    headers, read = read_headers(s3, REF)
    assert headers.addresses() == ["a@acme.com", "b@acme.com"]
    assert s3.ranges == ["bytes=0-65535"] and read == s3.served == 65536


def test_long_header_grows_with_adjacent_ranges_only() -> None:
    received = b"".join(b"Received: from relay%d.example.net by mx.acme.com\r\n" % i for i in range(3000))
    s3 = FakeS3(HEAD + received + b"\r\nbody" * 100000)
    block, truncated, read = read_head_bytes(s3, REF)
    assert not truncated and block == HEAD + received
    assert s3.ranges[0] == "bytes=0-65535" and s3.ranges[1] == "bytes=65536-131071"
    assert read == s3.served < len(block) * 2 + 65536


def test_mail_shorter_than_the_range_without_blank_line() -> None:
    s3 = FakeS3(HEAD)
    block, truncated, read = read_head_bytes(s3, REF)
    assert (block, truncated, read) == (HEAD, False, len(HEAD))


def test_header_longer_than_the_cap_is_truncated() -> None:
    s3 = FakeS3(HEAD + b"X-Pad: " + b"y" * 100 + b"\r\n" * 0 + (b"X-Pad: z\r\n" * 120000))
    block, truncated, read = read_head_bytes(s3, REF, cap=1 << 20)
    assert truncated and len(block) <= 1 << 20 and block.endswith(b"\r\n")
    assert read <= (1 << 20) + 2


@pytest.mark.parametrize(
    ("code", "status", "error", "transient"),
    [
        ("NoSuchKey", 404, MailGone, False),
        ("404", 404, MailGone, False),  # HEAD: no body, only the status
        ("PreconditionFailed", 412, MailGone, False),  # replaced since the event
        ("AccessDenied", 403, AccessDenied, True),  # a permission to fix: never a dropped mail
        ("403", 403, AccessDenied, True),
        ("KMS.AccessDeniedException", 403, AccessDenied, True),
        ("SlowDown", 503, StorageError, True),
    ],
)
def test_s3_errors_are_converted_gone_or_retried(
    code: str, status: int, error: type[StorageError], transient: bool
) -> None:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    with pytest.raises(error) as caught, converted(REF):
        raise ClientError(response, "GetObject")
    assert type(caught.value) is error and caught.value.transient is transient


def test_a_pin_names_the_bytes_whoever_described_them() -> None:
    from_event = ObjectRef("b", "k.eml", version_id="null", etag="0123abcd")  # unversioned bucket
    from_head = ObjectRef("b", "k.eml", version_id=None, etag='"0123abcd"')  # HEAD quotes ETags
    assert from_event.pin == from_head.pin == "0123abcd"
    assert ObjectRef("b", "k.eml", version_id="3HL4kqtJ", etag='"0123abcd"').pin == "3HL4kqtJ"
    assert ObjectRef("b", "k.eml").pin is None  # not pinned yet: a HEAD must come first
