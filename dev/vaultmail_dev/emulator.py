"""A local emulator of the Vaultastic Active Store upload API, v1 (development and tests only).

It speaks the wire contract of docs/api-contract.md over plain HTTP on 127.0.0.1 and stores
what it receives in an S3 emulator (moto) so that tests can check exactly which objects
landed where:

* step 1, ``POST /v1/uploads``: validates the JSON request like the service, answers 201 with
  an upload slot (an S3-style presigned POST or PUT, see ``slot_method``);
* step 2, ``POST|PUT /slots/{uploadId}``: behaves like S3 (501 on chunked transfer encoding,
  411 without Content-Length, 403 on a bad or expired signature, 400 EntityTooSmall /
  EntityTooLarge / BadDigest), streams the body to a temporary file and stores one object per
  vault at ``{domain}/{vault}/{fileName}`` in the bucket ``vaultastic-active-store``;
* ``/_emulator/*``: inspection and fault injection, so that a separate process can be driven.

Run it standalone with ``python -m vaultmail_dev.emulator --moto-url URL``: it prints its URL
on one line of standard output and serves until it is killed. The API key and the bodies are
never logged.
"""

from __future__ import annotations

import argparse
import contextlib
import email.message
import email.parser
import hashlib
import hmac
import json
import logging
import re
import secrets
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, cast
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# -- the contract ---------------------------------------------------------------------------

UPLOADS_PATH = "/v1/uploads"
SLOTS_PREFIX = "/slots/"
CONTROL_PREFIX = "/_emulator/"
API_KEY_HEADER = "x-api-key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAIL_CONTENT_TYPE = "message/rfc822"
SHA256_META_HEADER = "x-amz-meta-sha256"
EXPIRES_FIELD = "x-vaultmail-expires"
SIGNATURE_FIELD = "x-vaultmail-signature"
LIMIT_BYTES = 52_428_800  # the service limit, 50 MB
DEFAULT_BUCKET = "vaultastic-active-store"
DEFAULT_DOMAINS = ("acme.com",)
DEFAULT_API_KEY = "test-key"
REQUIRED_KEYS = ("domains", "vaults", "sender", "size", "sha256", "messageId", "fileName")

SlotMethod = Literal["PUT", "POST"]
Target = Literal["uploads", "slot"]
TARGETS: tuple[Target, ...] = ("uploads", "slot")

# -- limits of the HTTP side ----------------------------------------------------------------

READ_CHUNK = 256 * 1024
MAX_JSON_BYTES = 1 << 20  # step 1 and control bodies
MAX_FIELD_BYTES = 8 * 1024  # one form field of the presigned POST
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_FORM_OVERHEAD = 1 << 20  # form bytes allowed around the file part
DRAIN_LIMIT = LIMIT_BYTES + MAX_FORM_OVERHEAD  # unread bodies up to this are drained, not reset

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
_UPLOAD_ID_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")

_DEFAULT_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    408: "RequestTimeout",
    409: "Conflict",
    413: "TooLarge",
    422: "UnprocessableEntity",
    429: "TooManyRequests",
    500: "InternalError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


class ApiError(Exception):
    """An error answer: status, ``code`` and ``message`` of the error body, extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.close = close


def default_code(status: int) -> str:
    if status in _DEFAULT_CODES:
        return _DEFAULT_CODES[status]
    try:
        return HTTPStatus(status).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        return "Error"


# -- step 1: the request for a slot ----------------------------------------------------------


@dataclass(frozen=True)
class SlotRequest:
    """A valid step-1 body."""

    domains: tuple[str, ...]
    vaults: tuple[str, ...]
    sender: str | None
    size: int
    sha256: str
    message_id: str | None
    file_name: str


def _bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _str_list(body: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = body[name]
    if not isinstance(value, list) or not value:
        raise _bad_request(f"{name} must be a non-empty list of strings")
    if not all(isinstance(item, str) and item for item in value):
        raise _bad_request(f"{name} must be a non-empty list of strings")
    return tuple(value)


def _optional_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body[name]
    if value is not None and not isinstance(value, str):
        raise _bad_request(f"{name} must be a string or null")
    return value


def _file_name(body: Mapping[str, Any]) -> str:
    value = body["fileName"]
    if not isinstance(value, str) or not value.endswith(".eml") or len(value) <= 4:
        raise _bad_request("fileName must be a string ending with .eml")
    if "/" in value or "\\" in value or value.startswith(".") or len(value) > 255:
        raise _bad_request("fileName must be a plain file name")
    if not value.isprintable() or not value.isascii():
        raise _bad_request("fileName must be printable ASCII")
    return value


def parse_slot_request(raw: bytes, idempotency_key: str | None) -> SlotRequest:
    """Validate a step-1 body (400, or 413 for a size over the limit)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _bad_request("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("the body must be a JSON object")
    missing = [name for name in REQUIRED_KEYS if name not in body]
    if missing:
        raise _bad_request(f"missing field(s): {', '.join(missing)}")
    size = body["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise _bad_request("size must be a positive integer")
    sha256 = body["sha256"]
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise _bad_request("sha256 must be 64 lowercase hex digits")
    request = SlotRequest(
        domains=_str_list(body, "domains"),
        vaults=_str_list(body, "vaults"),
        sender=_optional_str(body, "sender"),
        size=size,
        sha256=sha256,
        message_id=_optional_str(body, "messageId"),
        file_name=_file_name(body),
    )
    if not idempotency_key:
        raise _bad_request(f"the {IDEMPOTENCY_HEADER} header is required")
    if idempotency_key != sha256:
        raise _bad_request(f"the {IDEMPOTENCY_HEADER} header must equal sha256")
    if size > LIMIT_BYTES:
        raise ApiError(413, "TooLarge", f"the mail is over the limit of {LIMIT_BYTES} bytes")
    return request


def split_address(value: str) -> tuple[str, str] | None:
    """``(local, domain)`` of a bare address (domain lower-cased), or None if malformed."""
    local, at, domain = value.rpartition("@")
    if not at or len(value) > 254 or len(local) > 64:
        return None
    if not _LOCAL_RE.fullmatch(local) or not _DOMAIN_RE.fullmatch(domain):
        return None
    return local, domain.lower()


def check_vaults(request: SlotRequest, configured: frozenset[str]) -> tuple[str, ...]:
    """The normalised vaults (422 NoPrimaryDomainRecipient / InvalidRecipient)."""
    parsed = [split_address(vault) for vault in request.vaults]
    if not any(p is not None and p[1] in configured for p in parsed):
        raise ApiError(422, "NoPrimaryDomainRecipient", "no vault is on a primary domain")
    listed = {domain.lower() for domain in request.domains}
    bad = [
        vault
        for vault, p in zip(request.vaults, parsed, strict=True)
        if p is None or p[1] not in configured or p[1] not in listed
    ]
    if bad:
        raise ApiError(
            422,
            "InvalidRecipient",
            f"{len(bad)} vault(s) are not valid addresses on a primary domain: {', '.join(bad[:5])}",
        )
    vaults = [f"{p[0]}@{p[1]}" for p in parsed if p is not None]
    return tuple(dict.fromkeys(vaults))


def object_key(vault: str, file_name: str) -> str:
    """Where one vault's copy of a mail is stored in the bucket."""
    return f"{vault.rpartition('@')[2]}/{vault}/{file_name}"


# -- records and fault rules -----------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One slot handed out, and where its upload goes (like the policy of a presigned URL)."""

    upload_id: str
    expires: int
    size: int
    sha256: str
    vaults: tuple[str, ...]
    file_name: str

    @property
    def keys(self) -> list[str]:
        return [object_key(vault, self.file_name) for vault in self.vaults]


@dataclass
class UploadRecord:
    """What the emulator knows of one upload (one Idempotency-Key)."""

    upload_id: str
    idempotency_key: str
    vaults: list[str]
    domains: list[str]
    sender: str | None
    size: int
    sha256: str
    message_id: str | None
    file_name: str
    keys: list[str] = field(default_factory=list)
    stores: int = 0  # successful step-2 uploads
    requests: int = 0  # step-1 requests with this key
    # slots handed out, by signature then by first key (slots of the same second share a
    # signature; a POST slot's key field tells them apart, a PUT takes the latest)
    grants: dict[str, dict[str, Grant]] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "uploadId": self.upload_id,
            "idempotencyKey": self.idempotency_key,
            "vaults": list(self.vaults),
            "domains": list(self.domains),
            "sender": self.sender,
            "size": self.size,
            "sha256": self.sha256,
            "messageId": self.message_id,
            "fileName": self.file_name,
            "keys": list(self.keys),
            "stores": self.stores,
            "requests": self.requests,
        }

    def copy(self) -> UploadRecord:
        return UploadRecord(
            **{
                **self.__dict__,
                "vaults": list(self.vaults),
                "domains": list(self.domains),
                "keys": list(self.keys),
                "grants": {k: dict(v) for k, v in self.grants.items()},
            }
        )


@dataclass
class FaultRule:
    """One injected fault: an error answer, a connection reset, or a delay."""

    target: Target
    status: int | None = None
    action: Literal["reset", "delay"] | None = None
    times: int = 1
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    seconds: float = 0.0
    after_bytes: int = 0  # reset: request body bytes read before the reset

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        """Validate a rule given as JSON (``retryAfter``, ``afterBytes`` in camelCase)."""
        if isinstance(data, FaultRule):
            rule = FaultRule(**data.__dict__)
            rule.validate()
            return rule
        if not isinstance(data, dict):
            raise ValueError("a fault rule must be a JSON object")
        known = {
            "target",
            "status",
            "action",
            "times",
            "retryAfter",
            "code",
            "message",
            "seconds",
            "afterBytes",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault rule key(s): {', '.join(unknown)}")
        rule = cls(
            target=cast(Target, data.get("target")),
            status=data.get("status"),
            action=data.get("action"),
            times=data.get("times", 1),
            retry_after=data.get("retryAfter"),
            code=data.get("code"),
            message=data.get("message"),
            seconds=data.get("seconds", 0.0),
            after_bytes=data.get("afterBytes", 0),
        )
        rule.validate()
        return rule

    def validate(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}")
        if self.action not in (None, "reset", "delay"):
            raise ValueError("action must be reset or delay")
        if self.status is None and self.action is None:
            raise ValueError("a fault rule needs a status or an action")
        if self.status is not None and (not _is_int(self.status) or not 400 <= self.status <= 599):
            raise ValueError("status must be an integer from 400 to 599")
        if self.action == "reset" and self.status is not None:
            raise ValueError("a reset rule cannot have a status")
        if not _is_int(self.times) or self.times < 1:
            raise ValueError("times must be a positive integer")
        if self.retry_after is not None and not _is_number(self.retry_after, minimum=0):
            raise ValueError("retryAfter must be a number of seconds")
        if not _is_number(self.seconds, minimum=0) or (self.action == "delay" and not self.seconds):
            raise ValueError("a delay rule needs seconds > 0")
        if not _is_int(self.after_bytes) or self.after_bytes < 0:
            raise ValueError("afterBytes must be a non-negative integer")
        for name in ("code", "message"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"target": self.target, "times": self.times}
        optional = {
            "status": self.status,
            "action": self.action,
            "retryAfter": self.retry_after,
            "code": self.code,
            "message": self.message,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        if self.action == "delay":
            data["seconds"] = self.seconds
        if self.after_bytes:
            data["afterBytes"] = self.after_bytes
        return data

    def error(self, target: Target) -> ApiError:
        status = self.status or 500
        headers = {}
        if self.retry_after is not None:
            retry = self.retry_after
            headers["Retry-After"] = str(int(retry)) if float(retry).is_integer() else str(retry)
        message = self.message or f"injected fault on {target}"
        return ApiError(status, self.code or default_code(status), message, headers=headers)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any, *, minimum: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= minimum


# -- request bodies --------------------------------------------------------------------------


class _Raw(Protocol):
    """The buffered reading side of a connection."""

    def read(self, n: int, /) -> bytes: ...

    def readline(self, limit: int, /) -> bytes: ...


class ClientGone(Exception):
    """The client closed the connection in the middle of a request."""


class _Body:
    """The body of one request, read at most once."""

    declared = True  # False when the request has neither Content-Length nor chunked encoding
    chunked = False
    length: int | None = None

    def read(self, n: int = READ_CHUNK) -> bytes:
        raise NotImplementedError

    @property
    def done(self) -> bool:
        raise NotImplementedError

    def drain(self, limit: int) -> bool:
        """Read and discard the rest, at most ``limit`` bytes; True if the body is consumed."""
        seen = 0
        while not self.done and seen <= limit:
            seen += len(self.read(READ_CHUNK))
        return self.done


class FixedBody(_Body):
    """A body of known length (Content-Length)."""

    def __init__(self, raw: _Raw, length: int, *, declared: bool = True) -> None:
        self._raw = raw
        self.length = length
        self.remaining = length
        self.declared = declared

    @property
    def done(self) -> bool:
        return self.remaining <= 0

    def read(self, n: int = READ_CHUNK) -> bytes:
        if self.remaining <= 0:
            return b""
        data = self._raw.read(min(n, self.remaining))
        if not data:
            raise ClientGone("the client closed the connection before the end of the body")
        self.remaining -= len(data)
        return data


class ChunkedBody(_Body):
    """A body in chunked transfer encoding (decoded)."""

    chunked = True

    def __init__(self, raw: _Raw) -> None:
        self._raw = raw
        self._left = 0
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def _line(self) -> bytes:
        line = self._raw.readline(1024)
        if not line.endswith(b"\n"):
            raise ClientGone("bad or truncated chunked encoding")
        return line

    def _next_chunk(self) -> None:
        size_text = self._line().split(b";", 1)[0].strip()
        try:
            self._left = int(size_text, 16)
        except ValueError:
            raise ClientGone("bad chunk size") from None
        if self._left == 0:
            while self._line() not in (b"\r\n", b"\n"):  # trailers
                pass
            self._done = True

    def read(self, n: int = READ_CHUNK) -> bytes:
        if self._left == 0 and not self._done:
            self._next_chunk()
        if self._done:
            return b""
        data = self._raw.read(min(n, self._left))
        if not data:
            raise ClientGone("the client closed the connection before the end of the body")
        self._left -= len(data)
        if self._left == 0:
            self._line()  # the CRLF after the chunk data
        return data


def read_all(body: _Body, limit: int) -> bytes:
    """A small body whole (JSON); 400 when over ``limit``."""
    if body.length is not None and body.length > limit:
        raise _bad_request(f"the body is over {limit} bytes")
    out = bytearray()
    while chunk := body.read(READ_CHUNK):
        out += chunk
        if len(out) > limit:
            raise _bad_request(f"the body is over {limit} bytes")
    return bytes(out)


class Receiver:
    """Streams received mail bytes to a temporary file, hashing as it goes."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.size = 0
        # closed by close() / the context manager
        self.file: IO[bytes] = tempfile.TemporaryFile(prefix="vaultmail-emulator-")  # noqa: SIM115
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            raise ApiError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
        self.file.write(data)
        self._sha256.update(data)
        self._md5.update(data)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def etag(self) -> str:
        return f'"{self._md5.hexdigest()}"'

    def check(self, size: int, sha256: str) -> None:
        """400 EntityTooSmall / EntityTooLarge / BadDigest, like S3."""
        if self.size < size:
            raise ApiError(
                400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size."
            )
        if self.size > size:
            raise ApiError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
        if not hmac.compare_digest(self.sha256, sha256):
            raise ApiError(400, "BadDigest", "The SHA256 you specified did not match what we received.")

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- multipart/form-data, streamed -----------------------------------------------------------


class FormError(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(
            400,
            "MalformedPOSTRequest",
            f"The body of your POST request is not well-formed multipart/form-data: {message}",
        )


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None


class _Scanner:
    """A push-back buffer over a body, for scanning up to delimiters without holding it."""

    def __init__(self, body: _Body) -> None:
        self._body = body
        self._buf = bytearray()

    def unread(self, data: bytes) -> None:
        self._buf[:0] = data

    def _fill(self) -> None:
        data = self._body.read(READ_CHUNK)
        if not data:
            raise FormError("the body ends before the closing boundary")
        self._buf += data

    def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read_until(self, delim: bytes, sink: Callable[[bytes], None], limit: int | None) -> int:
        """Pass the bytes before ``delim`` to ``sink`` and consume ``delim``; their count."""
        total = 0
        keep = len(delim) - 1
        while True:
            index = self._buf.find(delim)
            flush = index if index >= 0 else len(self._buf) - keep
            if flush > 0:
                total += flush
                if limit is not None and total > limit:
                    raise FormError("a form part is too large")
                sink(bytes(self._buf[:flush]))
                del self._buf[:flush]
            if index >= 0:
                del self._buf[: len(delim)]
                return total
            self._fill()

    def drain(self) -> None:
        self._buf.clear()
        self._body.drain(MAX_FORM_OVERHEAD)


def form_boundary(content_type: str | None) -> bytes:
    message = email.message.Message()
    message["Content-Type"] = content_type or ""
    boundary = message.get_param("boundary")
    if message.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise ApiError(
            412,
            "PreconditionFailed",
            "The presigned POST needs Content-Type multipart/form-data with a boundary.",
        )
    if not 1 <= len(boundary) <= 200:
        raise FormError("bad boundary")
    return boundary.encode("latin-1")


def _part_headers(raw: bytes) -> Part:
    headers = email.parser.BytesHeaderParser().parsebytes(raw.lstrip(b"\r\n") + b"\r\n\r\n")
    if headers.get_content_disposition() != "form-data":
        raise FormError("a part without Content-Disposition: form-data")
    name = headers.get_param("name", header="content-disposition")
    filename = headers.get_filename()
    if not isinstance(name, str) or not name:
        raise FormError("a part without a name")
    return Part(name=name.lower(), filename=filename, content_type=headers.get_content_type())


class FormReader:
    """Reads multipart/form-data parts in order, each part's body streamed to a sink."""

    def __init__(self, body: _Body, boundary: bytes) -> None:
        self._scanner = _Scanner(body)
        self._delim = b"\r\n--" + boundary
        self._started = False
        self._finished = False

    def next_part(self) -> Part | None:
        """The headers of the next part, or None after the closing boundary."""
        scanner = self._scanner
        if not self._started:
            scanner.unread(b"\r\n")  # the first boundary has no CRLF before it
            scanner.read_until(self._delim, _discard, MAX_FORM_OVERHEAD)
            self._started = True
        if self._finished:
            return None
        after = scanner.read_exact(2)
        if after == b"--":
            self._finished = True
            scanner.drain()  # the epilogue
            return None
        if after != b"\r\n":
            raise FormError("bad boundary line")
        scanner.unread(after)
        raw = bytearray()
        scanner.read_until(b"\r\n\r\n", raw.extend, MAX_PART_HEADER_BYTES)
        return _part_headers(bytes(raw))

    def read_body(self, sink: Callable[[bytes], None], limit: int | None = None) -> int:
        """Stream the current part's body to ``sink``; its length."""
        return self._scanner.read_until(self._delim, sink, limit)

    def read_value(self) -> str:
        out = bytearray()
        self.read_body(out.extend, MAX_FIELD_BYTES)
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError:
            raise FormError("a form field is not UTF-8") from None


def _discard(_: bytes) -> None:
    return None


# -- the emulator -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    keys: list[str]
    etag: str


class Emulator:
    """The Active Store upload API on 127.0.0.1, storing into an S3 emulator at ``moto_url``."""

    def __init__(
        self,
        moto_url: str,
        *,
        domains: Iterable[str] = DEFAULT_DOMAINS,
        api_key: str = DEFAULT_API_KEY,
        slot_method: SlotMethod | str = "POST",
        bucket: str = DEFAULT_BUCKET,
        slot_ttl: int = 900,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
        aws_credentials: tuple[str, str] | None = None,
    ) -> None:
        """``aws_credentials`` (access key id, secret) for moto when it checks IAM; else dummies."""
        method = str(slot_method).upper()
        if method not in ("PUT", "POST"):
            raise ValueError("slot_method must be PUT or POST")
        self.moto_url = moto_url.rstrip("/")
        self.domains = frozenset(d.strip().lower() for d in domains if d.strip())
        if not self.domains:
            raise ValueError("at least one domain is needed")
        self.slot_method: SlotMethod = cast(SlotMethod, method)
        self.bucket = bucket
        self.slot_ttl = slot_ttl
        self.host = host
        self.port = port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.clock = clock  # replace (e.g. in a test) to move the emulator's time
        self._api_key = api_key
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._records: dict[str, UploadRecord] = {}
        self._ids: dict[str, str] = {}  # Idempotency-Key -> uploadId
        self._faults: list[FaultRule] = []
        self._hits: dict[str, int] = dict.fromkeys(TARGETS, 0)
        self._s3 = _s3_client(self.moto_url, aws_credentials)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # never show the key
        return f"Emulator(url={self.url if self._server else None!r}, slot={self.slot_method})"

    # -- lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _Handler, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="vaultmail-emulator",
            daemon=True,
        )
        self._thread.start()
        log.info("emulator listening on %s (slots: %s)", self.url, self.slot_method)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        host, port = self._server.server_address[:2]
        host = str(host)
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    # -- inspection and control

    def records(self) -> list[dict[str, Any]]:
        """Every upload seen (step 1), oldest first, as ``GET /_emulator/uploads`` gives them."""
        with self._lock:
            return [record.to_json() for record in self._records.values()]

    def vaults(self) -> dict[str, list[str]]:
        """``{vault: [s3 keys]}`` of the objects in the bucket."""
        result: dict[str, list[str]] = {}
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                for item in page.get("Contents", []):
                    parts = item["Key"].split("/", 2)
                    if len(parts) == 3:
                        result.setdefault(parts[1], []).append(item["Key"])
        except ClientError as exc:
            if _error_code(exc) != "NoSuchBucket":
                raise
        return {vault: sorted(keys) for vault, keys in sorted(result.items())}

    @property
    def hits(self) -> dict[str, int]:
        """Requests received per target (``uploads``, ``slot``), faults included."""
        with self._lock:
            return dict(self._hits)

    def add_faults(self, rules: Iterable[Mapping[str, Any] | FaultRule]) -> None:
        """Append fault rules (all or none: a bad rule raises ValueError)."""
        parsed = [FaultRule.from_json(dict(r) if isinstance(r, Mapping) else r) for r in rules]
        with self._lock:
            self._faults.extend(parsed)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._faults]

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget records, faults and hits (the bucket is moto's: reset moto for that)."""
        with self._lock:
            self._records.clear()
            self._ids.clear()
            self._faults.clear()
            self._hits = dict.fromkeys(TARGETS, 0)

    # -- used by the handler

    def check_api_key(self, given: str | None) -> None:
        if given is None or not hmac.compare_digest(given.encode(), self._api_key.encode()):
            raise ApiError(401, "Unauthorized", "missing or invalid API key")

    def hit(self, target: Target) -> FaultRule | None:
        """Count a request and take the first fault rule that applies to it."""
        with self._lock:
            self._hits[target] += 1
            for index, rule in enumerate(self._faults):
                if rule.target == target:
                    rule.times -= 1
                    if rule.times <= 0:
                        del self._faults[index]
                    return FaultRule(**{**rule.__dict__, "times": 1})
        return None

    def issue(self, request: SlotRequest, vaults: Sequence[str], base_url: str) -> dict[str, Any]:
        """Register a step-1 request and answer it with a fresh slot.

        The same Idempotency-Key gives the same uploadId; the record keeps the latest request's
        metadata, and each slot keeps the vaults and file name it was handed out for.
        """
        with self._lock:
            upload_id = self._ids.setdefault(request.sha256, str(uuid.uuid4()))
            record = self._records.get(upload_id)
            if record is None:
                record = UploadRecord(
                    upload_id,
                    request.sha256,
                    [],
                    [],
                    None,
                    request.size,
                    request.sha256,
                    None,
                    request.file_name,
                )
                self._records[upload_id] = record
            record.vaults = list(vaults)
            record.domains = list(request.domains)
            record.sender = request.sender
            record.message_id = request.message_id
            record.file_name = request.file_name
            record.requests += 1
            expires = int(self.clock()) + self.slot_ttl
            signature = self.sign(upload_id, expires, record.size)
            grant = Grant(upload_id, expires, record.size, record.sha256, tuple(vaults), request.file_name)
            same_second = record.grants.setdefault(signature, {})
            same_second.pop(grant.keys[0], None)
            same_second[grant.keys[0]] = grant
        return {"uploadId": upload_id, "upload": self._slot(grant, signature, base_url)}

    def _slot(self, grant: Grant, signature: str, base_url: str) -> dict[str, Any]:
        url = f"{base_url}{SLOTS_PREFIX}{grant.upload_id}"
        if self.slot_method == "PUT":
            return {
                "method": "PUT",
                "url": f"{url}?expires={grant.expires}&signature={signature}",
                "headers": self.put_headers(grant.sha256),
            }
        fields = {"key": grant.keys[0], EXPIRES_FIELD: str(grant.expires), SIGNATURE_FIELD: signature}
        return {"method": "POST", "url": url, "fields": fields}

    @staticmethod
    def put_headers(sha256: str) -> dict[str, str]:
        """The headers a PUT slot is signed with (and must be sent with)."""
        return {"Content-Type": MAIL_CONTENT_TYPE, SHA256_META_HEADER: sha256}

    def sign(self, upload_id: str, expires: int, size: int) -> str:
        message = f"{upload_id}\n{expires}\n{size}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def lookup(self, upload_id: str) -> UploadRecord:
        """A copy of the record of an upload; 403 if unknown (a slot from before a reset)."""
        with self._lock:
            record = self._records.get(upload_id)
            if record is None:
                raise ApiError(403, "AccessDenied", "Unknown or revoked upload slot.")
            return record.copy()

    def verify(
        self, record: UploadRecord, expires: str | None, signature: str | None, key: str | None = None
    ) -> Grant:
        """The slot a request was signed for; 403 on a missing, wrong or expired signature.

        ``key`` is the key field of a POST slot (a PUT slot has none).
        """
        if not expires or not signature:
            raise ApiError(403, "AccessDenied", "The slot needs its expires and signature.")
        try:
            when = int(expires)
        except ValueError:
            raise ApiError(403, "AccessDenied", "Invalid expires.") from None
        expected = self.sign(record.upload_id, when, record.size)
        if not hmac.compare_digest(expected, signature):
            raise ApiError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if self.clock() > when:
            raise ApiError(403, "AccessDenied", "Request has expired")
        grants = record.grants.get(signature)
        if not grants:
            raise ApiError(403, "AccessDenied", "Unknown or revoked upload slot.")
        if key is None:
            return list(grants.values())[-1]
        grant = grants.get(key)
        if grant is None:
            raise ApiError(403, "AccessDenied", "Invalid according to Policy: key")
        return grant

    def store(self, grant: Grant, received: Receiver) -> Stored:
        """Put the mail once per vault of its slot, then count the store."""
        keys = grant.keys
        try:
            self._put(keys[0], received.file, grant)
            for key in keys[1:]:
                self._s3.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    MetadataDirective="COPY",
                    CopySource={"Bucket": self.bucket, "Key": keys[0]},
                )
        except (ClientError, BotoCoreError) as exc:
            log.warning("emulator: storing upload %s failed: %s", grant.upload_id, exc)
            raise ApiError(500, "InternalError", "We encountered an internal error.") from exc
        with self._lock:
            live = self._records.get(grant.upload_id)
            if live is not None:
                live.stores += 1
                live.keys = list(dict.fromkeys([*live.keys, *keys]))
        log.info("emulator: stored upload %s (%d bytes, %d vaults)", grant.upload_id, grant.size, len(keys))
        return Stored(keys=keys, etag=received.etag)

    def _put(self, key: str, data: IO[bytes], grant: Grant) -> None:
        def put() -> None:
            data.seek(0)
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentLength=grant.size,
                ContentType=MAIL_CONTENT_TYPE,
                Metadata={"sha256": grant.sha256, "upload-id": grant.upload_id},
            )

        try:
            put()
        except ClientError as exc:
            if _error_code(exc) != "NoSuchBucket":
                raise
            self._s3.create_bucket(Bucket=self.bucket)
            put()


_SESSION_LOCK = threading.Lock()
_SESSION: boto3.session.Session | None = None


def _s3_client(endpoint_url: str, credentials: tuple[str, str] | None = None) -> S3Client:
    """An S3 client for moto (dummy credentials unless given); one shared session loads the models once."""
    global _SESSION
    key_id, secret, token = (*credentials, None) if credentials else ("testing", "testing", "testing")
    with _SESSION_LOCK:  # sessions are not thread-safe; the clients they make are
        if _SESSION is None:
            _SESSION = boto3.session.Session()
        return _SESSION.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(
                max_pool_connections=32,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# -- HTTP -------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], emulator: Emulator
    ) -> None:
        self.emulator = emulator
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._live_lock:
            self._live.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._live_lock:
            self._live.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the kept-alive connections of a stopped server."""
        with self._live_lock:
            live, self._live = list(self._live), set()
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Aborted(Exception):
    """The connection was reset on purpose; nothing more is sent."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "VaultmailEmulator/1"
    timeout = 60  # seconds of silence before a connection is dropped

    _body: _Body | None = None
    _flavour: Literal["json", "xml"] = "json"

    def version_string(self) -> str:
        return self.server_version

    @property
    def emulator(self) -> Emulator:
        return cast(_Server, self.server).emulator

    # -- plumbing

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: slot query strings carry signatures.
        log.debug("%s %s -> %s", self.command, self._path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator: " + format, *args)

    @property
    def _path(self) -> str:
        return urlsplit(self.path).path

    def _dispatch(self) -> None:
        self._body = None
        self._flavour = "xml" if self._path.startswith(SLOTS_PREFIX) else "json"
        try:
            self._body = self._open_body()
            self._route()
        except ApiError as err:
            self._send_error(err)
        except _Aborted:
            self.close_connection = True
        except (ClientGone, ConnectionError, TimeoutError) as exc:
            log.debug("emulator: client gone (%s)", type(exc).__name__)
            self.close_connection = True
        except Exception:
            log.exception("emulator: unexpected error on %s %s", self.command, self._path)
            self._send_error(ApiError(500, "InternalError", "unexpected emulator error", close=True))

    def _open_body(self) -> _Body:
        encoding = self.headers.get("Transfer-Encoding")
        length = self.headers.get("Content-Length")
        if encoding:
            if encoding.strip().lower() != "chunked":
                raise ApiError(501, "NotImplemented", "unsupported Transfer-Encoding", close=True)
            return ChunkedBody(self.rfile)
        if length is None:
            return FixedBody(self.rfile, 0, declared=False)
        if not length.strip().isdigit():
            raise ApiError(400, "BadRequest", "invalid Content-Length", close=True)
        return FixedBody(self.rfile, int(length))

    def _route(self) -> None:
        path, method = self._path, self.command
        if path == UPLOADS_PATH:
            self._only(method, "POST")
            self._uploads()
        elif path.startswith(SLOTS_PREFIX):
            self._only(method, "POST", "PUT")
            self._slot(path[len(SLOTS_PREFIX) :])
        elif path.startswith(CONTROL_PREFIX):
            self._control(path[len(CONTROL_PREFIX) :], method)
        else:
            raise ApiError(404, "NotFound", "no such resource")

    @staticmethod
    def _only(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(
                405, "MethodNotAllowed", f"use {' or '.join(allowed)}", headers={"Allow": ", ".join(allowed)}
            )

    # -- answers

    def _respond(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        unread = not self._settle_body()
        self.send_response(status)
        if content_type and body:
            self.send_header("Content-Type", content_type)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if close or unread or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        if unread:
            self._linger()

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._respond(status, body, "application/json", headers)

    def _send_error(self, err: ApiError) -> None:
        if self._flavour == "xml":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>'
                + escape(err.code)
                + "</Code><Message>"
                + escape(err.message)
                + "</Message><RequestId>"
                + uuid.uuid4().hex[:16].upper()
                + "</RequestId></Error>"
            ).encode()
            content_type = "application/xml"
        else:
            body = json.dumps({"code": err.code, "message": err.message}).encode()
            content_type = "application/json"
        try:
            self._respond(err.status, body, content_type, err.headers, close=err.close)
        except OSError:
            self.close_connection = True

    def _settle_body(self) -> bool:
        """Consume what is left of the request body before answering; False if it cannot be."""
        body = self._body
        if body is None or body.done:
            return True
        if body.length is not None and body.length > DRAIN_LIMIT:
            return False
        try:
            return body.drain(DRAIN_LIMIT)
        except (ClientGone, OSError):
            return False

    def _linger(self) -> None:
        """Close gently although the client is still sending: stop writing, read a little."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and self.connection.recv(READ_CHUNK):
                pass
        except OSError:
            pass
        self.close_connection = True

    def _abort(self, after_bytes: int) -> None:
        """Reset the connection (RST, SO_LINGER 0) after reading ``after_bytes`` of the body."""
        if after_bytes and self._body is not None:
            left = after_bytes
            while left > 0 and (chunk := self._body.read(min(left, READ_CHUNK))):
                left -= len(chunk)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The read side holds a reference to the socket: close it too, so that the socket is
        # really closed (and RST sent) now. The write side holds none and stays open so that
        # the stdlib's final flush does not fail.
        with contextlib.suppress(OSError):
            self.rfile.close()
        self.connection.close()
        raise _Aborted

    def _apply_fault(self, target: Target) -> None:
        rule = self.emulator.hit(target)
        if rule is None:
            return
        log.debug("emulator: fault on %s: %s", target, rule.to_json())
        if rule.action == "reset":
            self._abort(rule.after_bytes)
        if rule.action == "delay":
            time.sleep(rule.seconds)
        if rule.status is not None:
            raise rule.error(target)

    def _base_url(self) -> str:
        emulator = self.emulator
        if emulator.public_url:
            return emulator.public_url
        host = self.headers.get("Host")
        if host and _HOST_RE.fullmatch(host):
            return f"http://{host}"
        return emulator.url

    # -- step 1

    def _uploads(self) -> None:
        emulator = self.emulator
        self._apply_fault("uploads")
        emulator.check_api_key(self.headers.get(API_KEY_HEADER))
        assert self._body is not None
        raw = read_all(self._body, MAX_JSON_BYTES)
        request = parse_slot_request(raw, self.headers.get(IDEMPOTENCY_HEADER))
        vaults = check_vaults(request, emulator.domains)
        self._send_json(201, emulator.issue(request, vaults, self._base_url()))

    # -- step 2

    def _slot(self, upload_id: str) -> None:
        emulator = self.emulator
        self._apply_fault("slot")
        body = self._body
        assert body is not None
        if body.chunked:
            raise ApiError(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented: Transfer-Encoding",
                close=True,
            )
        if not body.declared:
            raise ApiError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
        if self.command != emulator.slot_method:
            raise ApiError(
                405,
                "MethodNotAllowed",
                f"this slot takes {emulator.slot_method}",
                headers={"Allow": emulator.slot_method},
            )
        if not _UPLOAD_ID_RE.fullmatch(upload_id):
            raise ApiError(403, "AccessDenied", "Unknown or revoked upload slot.")
        record = emulator.lookup(upload_id)
        if self.command == "PUT":
            stored = self._receive_put(record)
            self._respond(200, headers={"ETag": stored.etag})
        else:
            stored = self._receive_post(record)
            location = f"{emulator.url}/{quote(emulator.bucket)}/{quote(stored.keys[0])}"
            self._respond(204, headers={"ETag": stored.etag, "Location": location})

    def _receive_put(self, record: UploadRecord) -> Stored:
        emulator = self.emulator
        query = parse_qs(urlsplit(self.path).query)
        grant = emulator.verify(record, _single(query, "expires"), _single(query, "signature"))
        for name, value in emulator.put_headers(grant.sha256).items():
            if self.headers.get(name) != value:
                raise ApiError(
                    403, "SignatureDoesNotMatch", f"The signed header {name} is missing or has another value."
                )
        body = self._body
        assert body is not None and body.length is not None
        if body.length != grant.size:
            code = "EntityTooSmall" if body.length < grant.size else "EntityTooLarge"
            raise ApiError(400, code, f"Content-Length {body.length} is not the announced size.")
        with Receiver(grant.size) as received:
            while chunk := body.read(READ_CHUNK):
                received.write(chunk)
            received.check(grant.size, grant.sha256)
            return emulator.store(grant, received)

    def _receive_post(self, record: UploadRecord) -> Stored:
        emulator = self.emulator
        body = self._body
        assert body is not None and body.length is not None
        boundary = form_boundary(self.headers.get("Content-Type"))
        if body.length > record.size + MAX_FORM_OVERHEAD:
            raise ApiError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
        form = FormReader(body, boundary)
        fields = self._read_fields(form)
        grant = emulator.verify(
            record, fields.get(EXPIRES_FIELD), fields.get(SIGNATURE_FIELD), key=fields["key"]
        )
        with Receiver(grant.size) as received:
            form.read_body(received.write)
            if form.next_part() is not None:
                raise ApiError(400, "InvalidArgument", "The file must be the last part of the form.")
            received.check(grant.size, grant.sha256)
            return emulator.store(grant, received)

    @staticmethod
    def _read_fields(form: FormReader) -> dict[str, str]:
        """The fields before the ``file`` part (which is left unread)."""
        fields: dict[str, str] = {}
        while (part := form.next_part()) is not None:
            if part.name == "file":
                missing = [n for n in ("key", EXPIRES_FIELD, SIGNATURE_FIELD) if n not in fields]
                if missing:
                    raise ApiError(
                        400, "InvalidArgument", f"Missing form field(s) before the file: {', '.join(missing)}"
                    )
                return fields
            fields[part.name] = form.read_value()
        raise ApiError(400, "InvalidArgument", "POST requires exactly one file upload per request.")

    # -- control

    def _control(self, name: str, method: str) -> None:
        emulator = self.emulator
        if name == "uploads":
            self._only(method, "GET")
            self._send_json(200, emulator.records())
        elif name == "vaults":
            self._only(method, "GET")
            self._send_json(200, emulator.vaults())
        elif name == "hits":
            self._only(method, "GET")
            self._send_json(200, emulator.hits)
        elif name == "health":
            self._only(method, "GET")
            self._send_json(
                200,
                {
                    "ok": True,
                    "slotMethod": emulator.slot_method,
                    "domains": sorted(emulator.domains),
                    "bucket": emulator.bucket,
                },
            )
        elif name == "faults":
            self._only(method, "GET", "POST", "DELETE")
            self._faults(method)
        elif name == "reset":
            self._only(method, "POST")
            emulator.reset()
            self._respond(204)
        else:
            raise ApiError(404, "NotFound", "no such control resource")

    def _faults(self, method: str) -> None:
        emulator = self.emulator
        if method == "DELETE":
            emulator.clear_faults()
            self._respond(204)
            return
        if method == "POST":
            assert self._body is not None
            try:
                rules = json.loads(read_all(self._body, MAX_JSON_BYTES))
                emulator.add_faults(rules if isinstance(rules, list) else [rules])
            except ValueError as exc:
                raise _bad_request(f"bad fault rules: {exc}") from None
        self._send_json(200, {"faults": emulator.faults()})


def _single(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and len(values) == 1 else None


# -- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vaultmail_dev.emulator",
        description="Local emulator of the Active Store upload API (v1), storing into moto S3. "
        "Prints its URL on standard output, then serves until killed.",
    )
    parser.add_argument("--moto-url", required=True, help="base URL of the S3 emulator (moto)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument(
        "--domains",
        default=",".join(DEFAULT_DOMAINS),
        help="comma-separated primary domains (default acme.com)",
    )
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the accepted x-api-key")
    parser.add_argument(
        "--slot-method",
        type=str.upper,
        choices=("PUT", "POST"),
        default="POST",
        help="kind of upload slot to hand out (default POST)",
    )
    parser.add_argument("--bucket", default=DEFAULT_BUCKET, help="bucket of the active store")
    parser.add_argument("--slot-ttl", type=int, default=900, help="slot lifetime in seconds")
    parser.add_argument(
        "--public-url", default=None, help="base URL put in slots (default: from the request's Host header)"
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    emulator = Emulator(
        args.moto_url,
        domains=[d for d in args.domains.split(",") if d.strip()],
        api_key=args.api_key,
        slot_method=args.slot_method,
        bucket=args.bucket,
        slot_ttl=args.slot_ttl,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with emulator:
        print(emulator.url, flush=True)
        while not stopping.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
