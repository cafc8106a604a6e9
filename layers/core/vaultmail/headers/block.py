"""The header block of a raw mail: find its end, read it (as few bytes as possible), decode it.

The header block ends at the first empty line (LF or CRLF). It is never longer than
``HEADER_CAP`` bytes: beyond that, reading stops at the last complete line and the block is
marked ``truncated``. Raw 8-bit bytes are decoded as UTF-8 (RFC 6532), and any byte sequence
that is not UTF-8 as Windows-1252 (a superset of Latin-1 in practice); the stdlib's own bytes
parser keeps them as surrogate escapes and later turns non-UTF-8 bytes into U+FFFD.
"""

from __future__ import annotations

import codecs
import os
from typing import IO, TypeAlias

HEADER_CAP = 1 << 20  # 1 MiB
READ_CHUNK = 16 * 1024

Source: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes] | IO[str]


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the bytes UTF-8 refused as Windows-1252 (never fails)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return bytes(exc.object[exc.start : exc.end]).decode("cp1252", "replace"), exc.end


codecs.register_error("vaultmail.cp1252", _cp1252_fallback)


def header_end(buf: bytes | bytearray, start: int = 0) -> int | None:
    """Offset just past the header block in ``buf`` (its closing empty line excluded).

    Returns None when ``buf`` holds no complete header block yet. A mail that starts
    with an empty line has an empty header block (offset 0). ``start`` skips bytes
    already searched (a caller growing its buffer passes the old length minus 2).
    """
    if buf.startswith(b"\n") or buf.startswith(b"\r\n"):
        return 0
    ends = [i + 1 for i in (buf.find(b"\n\n", start), buf.find(b"\n\r\n", start)) if i >= 0]
    return min(ends) if ends else None


def _encode_text(text: str) -> bytes:
    """A str mail back to bytes; lone surrogates from ``surrogateescape`` become their bytes."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates (e.g. half an emoji from JSON)
        return text.encode("utf-8", "replace")


def read_header_block(
    source: Source,
    *,
    cap: int = HEADER_CAP,
) -> tuple[bytes, bool]:
    """Return ``(header_block, truncated)`` reading as few bytes as possible.

    ``source`` is the mail itself as bytes or str (a str is never taken for a path), a path
    (``os.PathLike``), or a binary or text stream positioned at the start of the mail.
    Streams are read in 16 KiB chunks and left positioned at most one chunk after the header
    block.
    """
    if isinstance(source, os.PathLike):
        with open(source, "rb") as fh:
            return read_header_block(fh, cap=cap)
    if isinstance(source, str):
        # Slice before encoding: a 50 MB str costs no more than its first cap + 2 characters,
        # which encode to at least cap + 2 bytes.
        head = _encode_text(source[: cap + 2])
        return cut_header_block(head, complete=len(source) <= cap + 2, cap=cap)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source[: cap + 2])
        return cut_header_block(data, complete=len(source) <= cap + 2, cap=cap)
    buf = bytearray()
    while True:
        chunk = source.read(READ_CHUNK)
        if not chunk:
            return cut_header_block(bytes(buf), complete=True, cap=cap)
        if isinstance(chunk, str):
            chunk = _encode_text(chunk)
        scan_from = max(0, len(buf) - 2)
        buf += chunk
        end = header_end(buf, scan_from)
        if end is not None or len(buf) > cap + 2:
            return cut_header_block(bytes(buf), complete=False, cap=cap)


def cut_header_block(data: bytes, *, complete: bool, cap: int = HEADER_CAP) -> tuple[bytes, bool]:
    """The header block within the first bytes ``data`` of a mail: ``(block, truncated)``.

    ``complete`` says ``data`` is the whole mail (so no blank line means no body).
    """
    end = header_end(data)
    if end is not None and end <= cap:
        return data[:end], False
    if end is None and complete and len(data) <= cap:
        return data, False  # no body, no blank line: the whole mail is the header block
    head = data[:cap]
    last_nl = head.rfind(b"\n")
    return (head[: last_nl + 1] if last_nl >= 0 else head), True


def decode_header_block(block: bytes) -> str:
    """Bytes to text: UTF-8 (RFC 6532), each invalid sequence as Windows-1252; never fails.

    Per sequence, not per block: a block mixing a UTF-8 Subject and a Latin-1 display name
    decodes both right.
    """
    return block.decode("utf-8", "vaultmail.cp1252")
