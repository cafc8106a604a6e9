"""The HTTP side: a threading server on 127.0.0.1 and its handler, routing step 1
(``POST /v1/uploads``), step 2 (``POST|PUT /slots/{uploadId}``, answering like S3: XML errors,
501 on chunked transfer encoding, 411 without Content-Length) and the control API
(control.py); injected faults (faults.py) are applied here, on the connection."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, cast
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape

from . import control
from .backend import Backend
from .bodies import (
    DRAIN_LIMIT,
    MAX_FORM_OVERHEAD,
    MAX_JSON_BYTES,
    READ_CHUNK,
    Body,
    ChunkedBody,
    ClientGone,
    FixedBody,
    Receiver,
    read_all,
)
from .contract import (
    API_KEY_HEADER,
    CONTROL_PREFIX,
    EXPIRES_FIELD,
    IDEMPOTENCY_HEADER,
    SIGNATURE_FIELD,
    SLOTS_PREFIX,
    UPLOADS_PATH,
    ApiError,
    Target,
    check_vaults,
    parse_slot_request,
)
from .faults import FaultRule
from .forms import FormReader, form_boundary
from .slots import Stored, UploadRecord

log = logging.getLogger(__name__)

_UPLOAD_ID_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")



class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], emulator: Backend
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


class Aborted(Exception):
    """The connection was reset on purpose; nothing more is sent."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "VaultmailEmulator/1"
    timeout = 60  # seconds of silence before a connection is dropped

    body_reader: Body | None = None
    _flavour: Literal["json", "xml"] = "json"

    def version_string(self) -> str:
        return self.server_version

    @property
    def emulator(self) -> Backend:
        return cast(Server, self.server).emulator

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
        self.body_reader = None
        self._flavour = "xml" if self._path.startswith(SLOTS_PREFIX) else "json"
        try:
            self.body_reader = self._open_body()
            self._route()
        except ApiError as err:
            self._send_error(err)
        except Aborted:
            self.close_connection = True
        except (ClientGone, ConnectionError, TimeoutError) as exc:
            log.debug("emulator: client gone (%s)", type(exc).__name__)
            self.close_connection = True
        except Exception:
            log.exception("emulator: unexpected error on %s %s", self.command, self._path)
            self._send_error(ApiError(500, "InternalError", "unexpected emulator error", close=True))

    def _open_body(self) -> Body:
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
            self.only(method, "POST")
            self._uploads()
        elif path.startswith(SLOTS_PREFIX):
            self.only(method, "POST", "PUT")
            self._slot(path[len(SLOTS_PREFIX) :])
        elif path.startswith(CONTROL_PREFIX):
            control.serve(self, path[len(CONTROL_PREFIX) :], method)
        else:
            raise ApiError(404, "NotFound", "no such resource")

    @staticmethod
    def only(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(
                405, "MethodNotAllowed", f"use {' or '.join(allowed)}", headers={"Allow": ", ".join(allowed)}
            )

    # -- answers

    def respond(
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

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.respond(status, body, "application/json", headers)

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
            self.respond(err.status, body, content_type, err.headers, close=err.close)
        except OSError:
            self.close_connection = True

    def _settle_body(self) -> bool:
        """Consume what is left of the request body before answering; False if it cannot be."""
        body = self.body_reader
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
        if after_bytes and self.body_reader is not None:
            left = after_bytes
            while left > 0 and (chunk := self.body_reader.read(min(left, READ_CHUNK))):
                left -= len(chunk)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The read side holds a reference to the socket: close it too, so that the socket is
        # really closed (and RST sent) now. The write side holds none and stays open so that
        # the stdlib's final flush does not fail.
        with contextlib.suppress(OSError):
            self.rfile.close()
        self.connection.close()
        raise Aborted

    def _apply_fault(self, target: Target, vaults: Sequence[str] | None = None) -> FaultRule | None:
        """Apply the fault rule this request takes, if any; an ``afterStore`` rule is returned,
        to be applied (``_fault``) once the mail is stored. ``vaults``: the rules for a vault."""
        rule = self.emulator.hit(target, vaults)
        if rule is None:
            return None
        if rule.after_store:
            return rule
        self._fault(rule, target)
        return None

    def _fault(self, rule: FaultRule, target: Target) -> None:
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
        assert self.body_reader is not None
        raw = read_all(self.body_reader, MAX_JSON_BYTES)
        request = parse_slot_request(raw, self.headers.get(IDEMPOTENCY_HEADER))
        vaults = check_vaults(request, emulator.domains)
        self._apply_fault("uploads", vaults)  # a rule for one vault: that vault's shard fails
        self.send_json(201, emulator.issue(request, vaults, self._base_url()))

    # -- step 2

    def _slot(self, upload_id: str) -> None:
        emulator = self.emulator
        after_store = self._apply_fault("slot")
        body = self.body_reader
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
        stored = self._receive_put(record) if self.command == "PUT" else self._receive_post(record)
        if after_store is not None:  # stored, and the answer is lost (or an error)
            self._fault(after_store, "slot")
        if self.command == "PUT":
            self.respond(200, headers={"ETag": stored.etag})
        else:
            location = f"{emulator.url}/{quote(emulator.bucket)}/{quote(stored.keys[0])}"
            self.respond(204, headers={"ETag": stored.etag, "Location": location})

    def _receive_put(self, record: UploadRecord) -> Stored:
        emulator = self.emulator
        query = parse_qs(urlsplit(self.path).query)
        grant = emulator.verify(record, _single(query, "expires"), _single(query, "signature"))
        for name, value in emulator.put_headers(grant.sha256).items():
            if self.headers.get(name) != value:
                raise ApiError(
                    403, "SignatureDoesNotMatch", f"The signed header {name} is missing or has another value."
                )
        body = self.body_reader
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
        body = self.body_reader
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


def _single(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and len(values) == 1 else None
