"""Mail sources: a mail of known size that can be read (again) as a stream.

An upload reads a mail up to three times, never whole into memory: the header block
(first bytes only), the SHA-256 (streamed), and the upload itself (streamed, and again
on a retry). Every source therefore opens a fresh stream on demand.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from . import s3
from .errors import InvalidArguments, StorageError
from .headers import MailHeaders, read_headers

CHUNK = 1 << 20  # 1 MiB: the unit of every streamed read


class MailSource(Protocol):
    """What the uploader needs of a mail."""

    @property
    def size(self) -> int: ...

    @property
    def name(self) -> str: ...

    def open(self) -> IO[bytes]: ...

    def headers(self) -> MailHeaders: ...

    def sha256(self) -> str: ...


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


class _StreamSource:
    """Shared behaviour of the local sources (file, bytes)."""

    def open(self) -> IO[bytes]:
        raise NotImplementedError

    def headers(self) -> MailHeaders:
        with self.open() as fh:
            return read_headers(fh)

    def sha256(self) -> str:
        with self.open() as fh:
            return _sha256(fh)


@dataclass(frozen=True)
class FileSource(_StreamSource):
    path: Path
    label: str | None = None  # shown instead of the path (a spooled stream)
    temporary: bool = False  # a spooled copy: :func:`discard` deletes it

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileSource:
        """A regular file as it is; a pipe or FIFO (``<(cmd)``, ``/dev/stdin``) spooled first."""
        p = Path(path)
        try:
            if p.is_file():
                with p.open("rb"):
                    pass
                return cls(p)
            if p.exists() and not p.is_dir():
                with p.open("rb") as stream:
                    return spool(stream, label=str(p))
        except OSError as exc:
            raise InvalidArguments(f"{p}: cannot read ({exc.strerror or exc})") from exc
        raise InvalidArguments(f"{p}: not a readable file")

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def name(self) -> str:
        return self.label or str(self.path)

    def open(self) -> IO[bytes]:
        return self.path.open("rb")


@dataclass(frozen=True)
class BytesSource(_StreamSource):
    data: bytes
    label: str = "<message>"

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def name(self) -> str:
        return self.label

    def open(self) -> IO[bytes]:
        return io.BytesIO(self.data)


def spool(stream: IO[bytes], *, label: str = "<stdin>", directory: str | None = None) -> FileSource:
    """Copy a one-shot stream (stdin, a pipe, a socket) to a temporary file that can be re-read.

    The copy goes to disk in 1 MiB chunks (Lambda's /tmp holds 512 MB by default); the
    caller deletes it with :func:`discard` when done. A text-mode stream is refused (the
    mail's bytes are what is archived and hashed), and a failed copy leaves no file behind.
    """
    if isinstance(stream, io.TextIOBase):
        raise InvalidArguments(f"{label}: open the mail in binary mode ('rb'), not as text")
    fd, path = tempfile.mkstemp(prefix="vaultmail-", suffix=".eml", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return FileSource(Path(path), label=label, temporary=True)


def discard(source: MailSource) -> None:
    """Delete a spooled copy; any other source is left as it is."""
    if isinstance(source, FileSource) and source.temporary:
        source.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class S3Source:
    """A mail object in S3, pinned to a version or ETag so that every read sees the same bytes."""

    client: Any
    ref: s3.ObjectRef

    @classmethod
    def pinned(cls, client: Any, ref: s3.ObjectRef) -> S3Source:
        return cls(client, ref if ref.size is not None and ref.pin else s3.head(client, ref))

    @property
    def size(self) -> int:
        assert self.ref.size is not None
        return self.ref.size

    @property
    def name(self) -> str:
        return str(self.ref)

    def open(self) -> IO[bytes]:
        return s3.open_body(self.client, self.ref)

    def headers(self) -> MailHeaders:
        return s3.read_headers(self.client, self.ref)[0]

    def sha256(self) -> str:
        return s3.sha256(self.client, self.ref)


def from_any(mail: str | bytes | os.PathLike[str] | IO[bytes]) -> MailSource:
    """The SDK's inputs: mail text (str), mail bytes, a path, or a binary stream."""
    if isinstance(mail, os.PathLike):
        return FileSource.of(mail)
    if isinstance(mail, str):
        return BytesSource(mail.encode("utf-8", "surrogateescape"))
    if isinstance(mail, (bytes, bytearray)):
        return BytesSource(bytes(mail))
    if hasattr(mail, "read"):
        return spool(mail, label="<stream>")
    raise InvalidArguments(f"cannot read a mail from {type(mail).__name__}")


class LengthReader:
    """A stream of exactly ``size`` bytes with a ``len`` of what is left.

    requests and requests-toolbelt read ``len`` to send a ``Content-Length`` (S3 refuses
    chunked uploads); a botocore StreamingBody has none. An early end of the underlying
    stream raises instead of sending a short body.
    """

    def __init__(self, stream: IO[bytes], size: int, progress: Any = None) -> None:
        self._stream = stream
        self._size = size
        self._sent = 0
        self._progress = progress

    @property
    def len(self) -> int:
        return self._size - self._sent

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        left = self.len
        if left <= 0:
            return b""
        n = left if n is None or n < 0 else min(n, left)
        data = self._stream.read(min(n, CHUNK))
        if not data:
            raise StorageError(f"the mail stream ended after {self._sent} of {self._size} bytes")
        self._sent += len(data)
        if self._progress is not None:
            self._progress(self._sent, self._size)
        return data

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(CHUNK), b"")

    def close(self) -> None:
        self._stream.close()
