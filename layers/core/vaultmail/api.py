"""The Active Store mail upload API, v1 wire contract (pure: no I/O).

Everything the service fixes lives here and only here: the path, the headers, the JSON
keys, the answers and what each error answer means for us. docs/api-contract.md
describes the same contract for people. ``client.py`` does the HTTP.
"""

from __future__ import annotations

import json
import re
import uuid

# bandit B405/B314 silenced: only S3's XML error bodies are parsed (error_body says why it is safe)
import xml.etree.ElementTree as ET  # nosec B405
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    ApiKeyRefused,
    ApiNotFound,
    InvalidRecipient,
    NoPrimaryDomainRecipient,
    UploadFailed,
    UploadRejected,
    VaultmailError,
)

# the two steps of the contract, as the client names them (attempt counts, errors)
SLOT_REQUEST = "slot request"
UPLOAD = "upload"

UPLOADS_PATH = "/v1/uploads"
API_KEY_HEADER = "x-api-key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAIL_CONTENT_TYPE = "message/rfc822"

# ``fileName`` is uuid5(FILE_NAME_NAMESPACE, sha256 hex) + ".eml" (docs/api-contract.md, "fileName"):
# a retried store of the same mail names the same object, whatever slot it is handed.
# The namespace is uuid5(NAMESPACE_URL, "urn:vaultmail:active-store:v1:fileName"), written out so
# that it can never drift (tests/unit/test_file_name.py recomputes it).
FILE_NAME_NAMESPACE = uuid.UUID("9d002844-a999-5d6e-8e43-738f5a424521")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def file_name_for(sha256: str) -> str:
    """The ``fileName`` of a mail, from its SHA-256 in hex: the same mail, the same name."""
    digest = sha256.strip().lower()
    if not _SHA256_HEX.fullmatch(digest):
        raise ValueError("a SHA-256 is 64 hex digits")
    return f"{uuid.uuid5(FILE_NAME_NAMESPACE, digest)}.eml"


@dataclass(frozen=True)
class UploadRequest:
    """Step 1: the request for an upload slot."""

    domains: tuple[str, ...]
    vaults: tuple[str, ...]
    sender: str | None
    size: int
    sha256: str
    message_id: str | None

    @property
    def file_name(self) -> str:
        """Derived from ``sha256``, never chosen: see ``file_name_for``."""
        return file_name_for(self.sha256)

    def body(self) -> dict[str, Any]:
        return {
            "domains": list(self.domains),
            "vaults": list(self.vaults),
            "sender": self.sender,
            "size": self.size,
            "sha256": self.sha256,
            "messageId": self.message_id,
            "fileName": self.file_name,
        }

    def headers(self, api_key: str) -> dict[str, str]:
        return {
            API_KEY_HEADER: api_key,
            "Content-Type": "application/json",
            IDEMPOTENCY_HEADER: self.sha256,
        }


@dataclass(frozen=True)
class Slot:
    """Step 2: where and how to send the mail (an S3 presigned POST or PUT)."""

    method: str
    url: str
    fields: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ticket:
    """A 201 answer to step 1."""

    upload_id: str
    slot: Slot


def parse_ticket(payload: Any) -> Ticket:
    """Read a 201 body; a body that does not follow the contract is a (transient) failure."""
    try:
        upload = payload["upload"]
        method = str(upload["method"]).upper()
        if method not in ("POST", "PUT"):
            raise ValueError(f"unknown upload method {method!r}")
        slot = Slot(
            method=method,
            url=str(upload["url"]),
            fields={str(k): str(v) for k, v in (upload.get("fields") or {}).items()},
            headers={str(k): str(v) for k, v in (upload.get("headers") or {}).items()},
        )
        return Ticket(upload_id=str(payload["uploadId"]), slot=slot)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UploadFailed(f"the upload API answered 201 with an unexpected body ({exc})") from exc


def is_retryable(status: int) -> bool:
    """429 and 5xx are transient; every other error answer is final."""
    return status == 429 or status >= 500


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the contract uses seconds; HTTP dates are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_body(text: str) -> tuple[str | None, str]:
    """``(code, message)`` of an error answer: the API's JSON (step 1) or S3's XML (step 2)."""
    stripped = text.lstrip() if text else ""
    if stripped.startswith("<"):
        try:
            # https://docs.python.org/3/library/xml.html#xml-vulnerabilities: ElementTree never
            # fetches external entities, and the expat of Python 3.11+ (>= 2.4.1) refuses
            # entity-expansion bombs; the body is S3's error answer to our own request.
            root = ET.fromstring(stripped)  # nosec B314
        except ET.ParseError:
            return None, text[:200]
        return (root.findtext("Code") or None), (root.findtext("Message") or "")[:200]
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return None, text[:200]
    if not isinstance(data, dict):
        return None, text[:200]
    return (str(data["code"]) if data.get("code") else None), str(data.get("message") or "")


# Step 2 answers that are about the bytes sent, which a retry with the same mail cannot change.
SLOT_REFUSES_THE_MAIL = {"EntityTooSmall", "EntityTooLarge", "BadDigest"}


def error_for(status: int, text: str, *, step: str) -> VaultmailError:
    """The error a final (non-2xx, non-retried) answer means. ``step``: "slot request" or "upload".

    Permanent only when the *mail* is refused (its size, its vaults, its bytes); an answer that
    says the client, the endpoint or the slot is wrong is transient, so that a Lambda event is
    kept in the dead-letter queue until that is fixed, never dropped.
    """
    code, message = error_body(text)
    detail = f"{step}: HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if step == SLOT_REQUEST:
        if status in (401, 403):
            return ApiKeyRefused(f"the API key was refused ({detail})", status=status)
        if status == 422 and code == "NoPrimaryDomainRecipient":
            return NoPrimaryDomainRecipient(f"the API found no primary-domain vault ({detail})")
        if status == 422:
            return InvalidRecipient(f"the API refused a vault ({detail})")
        if status == 413:
            return UploadRejected(f"the mail is too large for the service ({detail})", status=status)
        if status == 400:
            return UploadRejected(f"the request was refused ({detail})", status=status)
        if status in (404, 405):
            return ApiNotFound(f"no upload API at API_ENDPOINT_URL ({detail})", status=status)
    elif status == 400 and code in SLOT_REFUSES_THE_MAIL:
        return UploadRejected(f"the upload slot refused the mail ({detail})", status=status)
    return UploadFailed(f"failed ({detail})", status=status)
