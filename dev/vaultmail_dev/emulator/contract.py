"""The emulator's side of the v1 wire contract: names, limits, error answers, step-1 validation.

What the service fixes (docs/api-contract.md): the paths, the headers, the JSON keys, the
50 MB limit, the error codes, and the checks a step-1 request goes through (400, 413, 422).
Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

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

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_LOCAL_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")

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


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _str_list(body: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = body[name]
    if not isinstance(value, list) or not value:
        raise bad_request(f"{name} must be a non-empty list of strings")
    if not all(isinstance(item, str) and item for item in value):
        raise bad_request(f"{name} must be a non-empty list of strings")
    return tuple(value)


def _optional_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body[name]
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{name} must be a string or null")
    return value


def _file_name(body: Mapping[str, Any]) -> str:
    value = body["fileName"]
    if not isinstance(value, str) or not value.endswith(".eml") or len(value) <= 4:
        raise bad_request("fileName must be a string ending with .eml")
    if "/" in value or "\\" in value or value.startswith(".") or len(value) > 255:
        raise bad_request("fileName must be a plain file name")
    if not value.isprintable() or not value.isascii():
        raise bad_request("fileName must be printable ASCII")
    return value


def parse_slot_request(raw: bytes, idempotency_key: str | None) -> SlotRequest:
    """Validate a step-1 body (400, or 413 for a size over the limit)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    missing = [name for name in REQUIRED_KEYS if name not in body]
    if missing:
        raise bad_request(f"missing field(s): {', '.join(missing)}")
    size = body["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise bad_request("size must be a positive integer")
    sha256 = body["sha256"]
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
        raise bad_request("sha256 must be 64 lowercase hex digits")
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
        raise bad_request(f"the {IDEMPOTENCY_HEADER} header is required")
    if idempotency_key != sha256:
        raise bad_request(f"the {IDEMPOTENCY_HEADER} header must equal sha256")
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

