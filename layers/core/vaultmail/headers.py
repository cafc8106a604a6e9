"""Read and parse only the header block of a raw mail (pure, no I/O beyond the given stream).

The header block ends at the first empty line (LF or CRLF). It is never longer than
``HEADER_CAP`` bytes: beyond that, parsing stops at the last complete line and the result is
marked ``truncated``. Parsing is the standard library's ``email`` package with
``policy.default``; every occurrence of a header is used (``get_all`` semantics).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import Parser
from email.utils import getaddresses
from typing import IO

from .errors import NotAMail

HEADER_CAP = 1 << 20  # 1 MiB
READ_CHUNK = 16 * 1024
ADDRESS_FIELDS = ("from", "sender", "to", "cc", "bcc", "reply-to")

_PARSER = Parser(policy=policy.default)


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


def read_header_block(
    source: bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes] | IO[str],
    *,
    cap: int = HEADER_CAP,
) -> tuple[bytes, bool]:
    """Return ``(header_block, truncated)`` reading as few bytes as possible.

    ``source`` is the mail itself as bytes or str, a path, or a binary or text stream
    positioned at the start of the mail. Streams are read in 16 KiB chunks and left
    positioned somewhere after the header block.
    """
    if isinstance(source, os.PathLike):
        with open(source, "rb") as fh:
            return read_header_block(fh, cap=cap)
    if isinstance(source, str):
        source = source.encode("utf-8", "surrogateescape")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source[: cap + 2])
        return _cut(data, complete=len(source) <= cap + 2, cap=cap)
    buf = bytearray()
    while True:
        chunk = source.read(READ_CHUNK)
        if not chunk:
            return _cut(bytes(buf), complete=True, cap=cap)
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        scan_from = max(0, len(buf) - 2)
        buf += chunk
        end = header_end(buf, scan_from)
        if end is not None or len(buf) > cap + 2:
            return _cut(bytes(buf), complete=False, cap=cap)


def _cut(data: bytes, *, complete: bool, cap: int) -> tuple[bytes, bool]:
    end = header_end(data)
    if end is not None and end <= cap:
        return data[:end], False
    if complete and len(data) <= cap:
        return data, False  # no body, no blank line: the whole mail is the header block
    head = data[:cap]
    last_nl = head.rfind(b"\n")
    return (head[: last_nl + 1] if last_nl >= 0 else head), True


def decode_header_block(block: bytes) -> str:
    """Bytes to text: UTF-8 (RFC 6532) first, then Windows-1252, never failing."""
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("cp1252", errors="replace")


@dataclass(frozen=True)
class Mailbox:
    """One address: display name and bare address (domain lower-cased)."""

    name: str
    addr: str

    @property
    def domain(self) -> str:
        return self.addr.rpartition("@")[2]


@dataclass(frozen=True)
class MailHeaders:
    """What vaultmail needs from a mail's header block."""

    from_: tuple[Mailbox, ...] = ()
    sender: tuple[Mailbox, ...] = ()
    to: tuple[Mailbox, ...] = ()
    cc: tuple[Mailbox, ...] = ()
    bcc: tuple[Mailbox, ...] = ()
    reply_to: tuple[Mailbox, ...] = ()
    subject: str | None = None
    message_id: str | None = None
    date: str | None = None
    header_bytes: int = 0
    truncated: bool = False
    skipped: tuple[str, ...] = field(default=())

    def addresses(self, *fields: str) -> list[str]:
        """Bare addresses of the given fields (default From, To, Cc, Bcc), in header order."""
        names = fields or ("from_", "to", "cc", "bcc")
        return [m.addr for n in names for m in getattr(self, n)]

    @property
    def recipients(self) -> tuple[Mailbox, ...]:
        return self.to + self.cc + self.bcc

    def as_dict(self) -> dict[str, object]:
        """The keys of ``vaultmail inspect --json`` (docs/cli.md), vaults excluded."""
        return {
            "from": [m.addr for m in self.from_],
            "to": [m.addr for m in self.to],
            "cc": [m.addr for m in self.cc],
            "bcc": [m.addr for m in self.bcc],
            "replyTo": [m.addr for m in self.reply_to],
            "subject": self.subject,
            "messageId": self.message_id,
            "date": self.date,
            "headerBytes": self.header_bytes,
        }


def parse_header_block(block: bytes, *, truncated: bool = False) -> MailHeaders:
    """Parse a header block (as returned by :func:`read_header_block`)."""
    if not block.strip():
        raise NotAMail("the mail has no header block (it is empty or starts with a blank line)")
    msg = _PARSER.parsestr(decode_header_block(block), headersonly=True)
    if not msg.keys():
        raise NotAMail("no RFC 822 header found in the first bytes of the mail")
    skipped: list[str] = []
    if truncated:
        skipped.append(f"header block longer than {HEADER_CAP} bytes: parsed the first part only")
    boxes = {name: _mailboxes(msg, name, skipped) for name in ADDRESS_FIELDS}
    return MailHeaders(
        from_=boxes["from"],
        sender=boxes["sender"],
        to=boxes["to"],
        cc=boxes["cc"],
        bcc=boxes["bcc"],
        reply_to=boxes["reply-to"],
        subject=_text(msg, "subject", skipped),
        message_id=_text(msg, "message-id", skipped),
        date=_text(msg, "date", skipped),
        header_bytes=len(block),
        truncated=truncated,
        skipped=tuple(skipped),
    )


def read_headers(
    source: bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes] | IO[str],
    *,
    cap: int = HEADER_CAP,
) -> MailHeaders:
    """Read the header block of ``source`` and parse it: the one call most callers need."""
    block, truncated = read_header_block(source, cap=cap)
    return parse_header_block(block, truncated=truncated)


def _raw_values(msg: EmailMessage, name: str) -> list[str]:
    return [str(v) for k, v in msg.raw_items() if k.lower() == name]


def _text(msg: EmailMessage, name: str, skipped: list[str]) -> str | None:
    try:
        value = msg.get(name)
    except Exception as exc:  # the email package raises odd errors on odd input
        skipped.append(f"{name}: unparsable ({type(exc).__name__}), used the raw text")
        raws = _raw_values(msg, name)
        value = " ".join(raws[0].split()) if raws else None
    if value is None:
        return None
    return " ".join(str(value).split()) or None


def _mailboxes(msg: EmailMessage, name: str, skipped: list[str]) -> tuple[Mailbox, ...]:
    out: list[Mailbox] = []
    for raw in _raw_values(msg, name):
        try:
            header = policy.default.header_factory(name, raw)
            pairs: Iterable[tuple[str, str]] = [
                (a.display_name, _bare(a)) for a in header.addresses  # type: ignore[attr-defined]
            ]
            skipped.extend(f"{name}: {defect}" for defect in header.defects)
        except Exception as exc:
            skipped.append(f"{name}: strict parse failed ({type(exc).__name__}), parsed leniently")
            pairs = [(n, a) for n, a in getaddresses([" ".join(raw.split())])]
        for display, addr in pairs:
            normal = normalize_address(addr)
            if normal is None:
                if addr or display:
                    skipped.append(f"{name}: skipped {display or addr!r}: not an address")
                continue
            out.append(Mailbox(display, normal))
    return tuple(out)


def _bare(address: Address) -> str:
    if not address.username or not address.domain:
        return ""
    return f"{address.username}@{address.domain}"


def normalize_address(addr: str) -> str | None:
    """``Local@Domain`` to ``Local@domain``; None if it is not an address at all."""
    addr = addr.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not at or not local or not domain or "." not in domain or " " in domain:
        return None
    if any(c in domain for c in "@<>()[],;:\\\""):
        return None
    return f"{local}@{domain}"


def domain_key(domain: str) -> str:
    """Comparable form of a domain: lower-case A-label (``bücher.de`` -> ``xn--bcher-kva.de``)."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


__all__ = [
    "HEADER_CAP",
    "MailHeaders",
    "Mailbox",
    "domain_key",
    "header_end",
    "normalize_address",
    "parse_header_block",
    "read_header_block",
    "read_headers",
]
