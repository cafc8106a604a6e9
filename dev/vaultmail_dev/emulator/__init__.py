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

The modules, in the order a request meets them:

* ``contract``: names, limits, error answers, step-1 validation (pure);
* ``service``: the ``Emulator`` (settings, lifecycle, API key, faults and hits);
* ``handler``: the HTTP server and the routes of step 1 and step 2;
* ``bodies`` and ``forms``: request bodies and the streamed presigned-POST form;
* ``slots``: slots handed out, checked, and stored into moto;
* ``faults``: the fault rules; ``control``: ``/_emulator/*``; ``cli``: the process.
"""

from __future__ import annotations

from .bodies import (
    DRAIN_LIMIT,
    MAX_FIELD_BYTES,
    MAX_FORM_OVERHEAD,
    MAX_JSON_BYTES,
    MAX_PART_HEADER_BYTES,
    READ_CHUNK,
    ChunkedBody,
    ClientGone,
    FixedBody,
    Receiver,
    read_all,
)
from .cli import main
from .contract import (
    API_KEY_HEADER,
    CONTROL_PREFIX,
    DEFAULT_API_KEY,
    DEFAULT_BUCKET,
    DEFAULT_DOMAINS,
    EXPIRES_FIELD,
    IDEMPOTENCY_HEADER,
    LIMIT_BYTES,
    MAIL_CONTENT_TYPE,
    REQUIRED_KEYS,
    SHA256_META_HEADER,
    SIGNATURE_FIELD,
    SLOTS_PREFIX,
    TARGETS,
    UPLOADS_PATH,
    ApiError,
    SlotMethod,
    SlotRequest,
    Target,
    check_vaults,
    default_code,
    object_key,
    parse_slot_request,
    split_address,
)
from .faults import FaultRule
from .forms import FormError, FormReader, Part, form_boundary
from .service import Emulator
from .slots import Grant, Stored, UploadRecord

__all__ = [
    "API_KEY_HEADER",
    "CONTROL_PREFIX",
    "DEFAULT_API_KEY",
    "DEFAULT_BUCKET",
    "DEFAULT_DOMAINS",
    "DRAIN_LIMIT",
    "EXPIRES_FIELD",
    "IDEMPOTENCY_HEADER",
    "LIMIT_BYTES",
    "MAIL_CONTENT_TYPE",
    "MAX_FIELD_BYTES",
    "MAX_FORM_OVERHEAD",
    "MAX_JSON_BYTES",
    "MAX_PART_HEADER_BYTES",
    "READ_CHUNK",
    "REQUIRED_KEYS",
    "SHA256_META_HEADER",
    "SIGNATURE_FIELD",
    "SLOTS_PREFIX",
    "TARGETS",
    "UPLOADS_PATH",
    "ApiError",
    "ChunkedBody",
    "ClientGone",
    "Emulator",
    "FaultRule",
    "FixedBody",
    "FormError",
    "FormReader",
    "Grant",
    "Part",
    "Receiver",
    "SlotMethod",
    "SlotRequest",
    "Stored",
    "Target",
    "UploadRecord",
    "check_vaults",
    "default_code",
    "form_boundary",
    "main",
    "object_key",
    "parse_slot_request",
    "read_all",
    "split_address",
]
