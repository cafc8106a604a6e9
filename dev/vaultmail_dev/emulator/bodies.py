"""Request bodies as the HTTP server reads them: fixed-length or chunked, read at most once,
and the receiver that streams a mail to a temporary file, hashing it as S3 would check it."""

from __future__ import annotations

import hashlib
import hmac
import tempfile
from typing import IO, Protocol

from .contract import LIMIT_BYTES, ApiError, bad_request

# -- limits of the HTTP side ----------------------------------------------------------------

READ_CHUNK = 256 * 1024
MAX_JSON_BYTES = 1 << 20  # step 1 and control bodies
MAX_FIELD_BYTES = 8 * 1024  # one form field of the presigned POST
MAX_PART_HEADER_BYTES = 16 * 1024
MAX_FORM_OVERHEAD = 1 << 20  # form bytes allowed around the file part
DRAIN_LIMIT = LIMIT_BYTES + MAX_FORM_OVERHEAD  # unread bodies up to this are drained, not reset

# -- request bodies --------------------------------------------------------------------------


class _Raw(Protocol):
    """The buffered reading side of a connection."""

    def read(self, n: int, /) -> bytes: ...

    def readline(self, limit: int, /) -> bytes: ...


class ClientGone(Exception):
    """The client closed the connection in the middle of a request."""


class Body:
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


class FixedBody(Body):
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


class ChunkedBody(Body):
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


def read_all(body: Body, limit: int) -> bytes:
    """A small body whole (JSON); 400 when over ``limit``."""
    if body.length is not None and body.length > limit:
        raise bad_request(f"the body is over {limit} bytes")
    out = bytearray()
    while chunk := body.read(READ_CHUNK):
        out += chunk
        if len(out) > limit:
            raise bad_request(f"the body is over {limit} bytes")
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


