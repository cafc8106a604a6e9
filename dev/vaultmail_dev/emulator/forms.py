"""multipart/form-data, streamed: the presigned-POST form read part by part, the file part
passed to a sink without holding it in memory."""

from __future__ import annotations

import email.message
import email.parser
from collections.abc import Callable
from dataclasses import dataclass

from .bodies import MAX_FIELD_BYTES, MAX_FORM_OVERHEAD, MAX_PART_HEADER_BYTES, READ_CHUNK, Body
from .contract import ApiError


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

    def __init__(self, body: Body) -> None:
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

    def __init__(self, body: Body, boundary: bytes) -> None:
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

