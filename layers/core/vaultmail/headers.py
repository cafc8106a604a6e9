"""Read and parse only the header block of a raw mail (pure, no I/O beyond the given stream).

The header block ends at the first empty line (LF or CRLF). It is never longer than
``HEADER_CAP`` bytes: beyond that, parsing stops at the last complete line and the result is
marked ``truncated``. Parsing is the standard library's ``email`` package with
``policy.default``; every occurrence of a header is used (``get_all`` semantics).

Leniency, and what the standard library forces on us (each point is a deliberate choice):

* Raw 8-bit bytes in headers are decoded as UTF-8 (RFC 6532), and any byte sequence that is
  not UTF-8 as Windows-1252 (a superset of Latin-1 in practice). The stdlib's own bytes parser
  keeps them as surrogate escapes and later turns non-UTF-8 bytes into U+FFFD.
* The stdlib parser ends the header section at the first line that is not a header line
  (``MissingHeaderBodySeparatorDefect``) and calls the rest body. Here the block already ends at
  the first empty line, so such a line is damage inside the header block: it is skipped (and
  listed in ``skipped``) and parsing resumes after it, a bounded number of times.
  A block whose very first line is not a header is not a mail (``NotAMail``).
* The strict address parser (``headerregistry``) is quadratic in the length of a value (a
  600 KB To: takes ~30 s) and raises on some malformed input (``"``, two groups without a
  comma). It is used for values up to ``STRICT_VALUE_LIMIT`` characters and up to
  ``STRICT_BUDGET`` characters per mail; longer values, values it fails on and values it reports
  as malformed also go through the lenient ``email.utils.getaddresses``.
"""

from __future__ import annotations

import codecs
import inspect
import os
import unicodedata
from dataclasses import dataclass, field
from email import errors, policy
from email.header import decode_header, make_header
from email.parser import Parser
from email.utils import getaddresses
from typing import IO, Any

from .errors import NotAMail

HEADER_CAP = 1 << 20  # 1 MiB
READ_CHUNK = 16 * 1024
ADDRESS_FIELDS = ("from", "sender", "to", "cc", "bcc", "reply-to")
TEXT_FIELDS = ("subject", "message-id", "date")

STRICT_VALUE_LIMIT = 16 * 1024  # longest value given to the (quadratic) strict parser
STRICT_BUDGET = 128 * 1024  # characters of address values strictly parsed per mail
MAX_JUNK_LINES = 8  # non-header lines skipped inside one header block before giving up

_PARSER = Parser(policy=policy.default)

# Defects of an address header that lose no address: obsolete but parsed syntax, RFC 6532
# local parts, and an encoded word in an unknown charset (only the display name suffers).
_BENIGN_DEFECTS = (
    errors.ObsoleteHeaderDefect,
    errors.NonASCIILocalPartDefect,
    errors.CharsetError,
    errors.UndecodableBytesDefect,
)

# Python >= 3.11.10 / 3.12.6 / 3.13 give getaddresses() a strict mode (on by default) that
# returns [("", "")] for a whole value as soon as it looks odd: the fallback needs strict=False.
_GETADDRESSES_HAS_STRICT = "strict" in inspect.signature(getaddresses).parameters


def _lenient_getaddresses(value: str) -> list[tuple[str, str]]:
    if _GETADDRESSES_HAS_STRICT:
        return getaddresses([value], strict=False)  # type: ignore[call-arg, unused-ignore]
    return getaddresses([value])


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
    source: bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes] | IO[str],
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
    skipped: list[str] = []
    if truncated:
        skipped.append(
            f"header block over the size cap: parsed its first {len(block)} bytes only"
        )
    items = _header_items(decode_header_block(block), skipped)
    if not items:
        raise NotAMail("no RFC 822 header found at the start of the mail")
    values: dict[str, list[str]] = {}
    for name, value in items:
        key = name.strip().lower()
        if key in ADDRESS_FIELDS or key in TEXT_FIELDS:
            values.setdefault(key, []).append(value)
    budget = _Budget(STRICT_BUDGET)
    boxes = {name: _mailboxes(name, values.get(name, []), skipped, budget) for name in ADDRESS_FIELDS}
    text = {name: _text(name, values.get(name, []), skipped) for name in TEXT_FIELDS}
    return MailHeaders(
        from_=boxes["from"],
        sender=boxes["sender"],
        to=boxes["to"],
        cc=boxes["cc"],
        bcc=boxes["bcc"],
        reply_to=boxes["reply-to"],
        subject=text["subject"],
        message_id=text["message-id"],
        date=text["date"],
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


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _header_items(text: str, skipped: list[str]) -> list[tuple[str, str]]:
    """``(name, raw value)`` of every header of the block, in order, with the stdlib parser.

    The parser stops at the first line that is not a header line and calls the rest body;
    inside a header block that line is damage: skip it and parse the rest, at most
    MAX_JUNK_LINES times (each restart re-reads the rest of the block, so it is bounded).
    """
    items: list[tuple[str, str]] = []
    rest = text
    for restarts in range(MAX_JUNK_LINES + 1):
        msg = _PARSER.parsestr(rest, headersonly=True)
        items.extend(msg.raw_items())
        for defect in msg.defects:
            if isinstance(defect, errors.FirstHeaderLineIsContinuationDefect):
                why = "a continuation line with no header before it"
            elif isinstance(defect, errors.MisplacedEnvelopeHeaderDefect):
                why = "an mbox 'From ' line inside the header block"
            else:
                continue
            skipped.append(f"header block: skipped {_clip(str(getattr(defect, 'line', '')))!r}: {why}")
        if not items:
            return []  # the first line is not a header: not a mail
        payload = msg.get_payload()
        rest = payload if isinstance(payload, str) else ""
        if not rest.strip():
            return items
        if restarts == MAX_JUNK_LINES:
            break
        if any(isinstance(d, errors.MissingHeaderBodySeparatorDefect) for d in msg.defects):
            bad, _, rest = rest.partition("\n")
            skipped.append(f"header block: skipped {_clip(bad)!r}: not a header line")
        # else the parser took a lone CR line ending for an empty line: go on after it
    skipped.append(
        f"header block: more than {MAX_JUNK_LINES} lines that are not headers; "
        f"ignored its last {len(rest)} characters"
    )
    return items


def _sanitize(text: str) -> str:
    """Undecodable bytes come back from the email package as lone surrogates: U+FFFD them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _unfold(value: str) -> str:
    # What policy.default.header_fetch_parse does: drop CR and LF, keep the folding white space.
    return value.replace("\r", "").replace("\n", "")


def _text(name: str, raws: list[str], skipped: list[str]) -> str | None:
    """The decoded text of the first occurrence of an unstructured-ish header."""
    if not raws:
        return None
    raw = raws[0]
    if len(raw) > STRICT_VALUE_LIMIT:
        cut = raw.rfind(" ", 0, STRICT_VALUE_LIMIT)  # encoded words hold no space: cut between
        raw = raw[: cut if cut > 0 else STRICT_VALUE_LIMIT]
        skipped.append(f"{name}: longer than {STRICT_VALUE_LIMIT} characters, truncated")
    value: str
    try:
        value = str(policy.default.header_fetch_parse(name, raw))
    except Exception as exc:  # the email package raises odd errors on odd input
        skipped.append(f"{name}: unparsable ({type(exc).__name__}), used the raw text")
        value = _decode_words(_unfold(raw))
    return " ".join(_sanitize(value).split()) or None


def _decode_words(text: str) -> str:
    """RFC 2047 decoding for the lenient paths; the text unchanged if that fails."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:
        return text


class _Budget:
    """Characters of address values the strict parser may still take for this mail."""

    def __init__(self, chars: int) -> None:
        self.chars = chars
        self.noted = False

    def take(self, n: int, skipped: list[str]) -> bool:
        if n <= self.chars:
            self.chars -= n
            return True
        if not self.noted:
            self.noted = True
            skipped.append(
                f"address headers over {STRICT_BUDGET} characters in all: "
                "the rest parsed leniently"
            )
        return False


def _mailboxes(name: str, raws: list[str], skipped: list[str], budget: _Budget) -> tuple[Mailbox, ...]:
    out: list[Mailbox] = []
    for raw in raws:
        out.extend(_value_mailboxes(name, raw, skipped, budget))
    return tuple(out)


def _value_mailboxes(name: str, raw: str, skipped: list[str], budget: _Budget) -> list[Mailbox]:
    """The mailboxes of one occurrence of an address header.

    Strict parse first; if it cannot be used (too long, raised) or reports the value as
    malformed, the lenient parser also runs and adds what the strict one missed.
    """
    if len(raw) > STRICT_VALUE_LIMIT:
        skipped.append(f"{name}: a value of {len(raw)} characters, parsed leniently")
        return _lenient_mailboxes(name, raw, None, skipped)
    if not budget.take(len(raw), skipped):
        return _lenient_mailboxes(name, raw, None, skipped)
    try:
        header: Any = policy.default.header_fetch_parse(name, raw)
        strict: list[Mailbox] = []
        rejected: list[str] = []
        for a in header.addresses:
            spec = a.addr_spec if a.username and a.domain else ""
            # The strict parser turns 'John Doe a@x' into the quoted '"John Doe a"@x':
            # a quoted local part that was never quoted in the header is a misparse.
            if spec.startswith('"') and '"' not in raw:
                spec = ""
            normal = normalize_address(spec) if spec else None
            if normal is None:
                rejected.append(a.display_name or a.username or "(unparsable)")
            else:
                strict.append(Mailbox(_sanitize(a.display_name), normal))
        serious = [d for d in header.defects if not isinstance(d, _BENIGN_DEFECTS)]
    except Exception as exc:  # IndexError, AttributeError... on some malformed values
        skipped.append(f"{name}: the strict parser failed ({type(exc).__name__}) on {_clip(raw)!r}")
        return _lenient_mailboxes(name, raw, None, skipped)
    if not serious:
        skipped.extend(f"{name}: skipped {_clip(_sanitize(r))!r}: not an address" for r in rejected)
        return strict
    skipped.append(f"{name}: malformed ({serious[0]}): {_clip(raw)!r}")
    return _lenient_mailboxes(name, raw, strict, skipped)


def _lenient_mailboxes(
    name: str, raw: str, strict: list[Mailbox] | None, skipped: list[str]
) -> list[Mailbox]:
    """``strict`` plus what ``getaddresses`` finds that is literally in the value.

    The lenient parser glues white-space separated words (``x@acme.com junk`` gives
    ``x@acme.comjunk``): an address it returns that is not in the header text is rejected.
    """
    value = _unfold(raw)
    found = list(strict or ())
    seen = {m.addr for m in found}
    cursor = 0  # getaddresses keeps the order: search forward only (linear on 1 MiB values)
    for display, addr in _lenient_getaddresses(value):
        at = value.find(addr, cursor) if addr else -1
        normal = normalize_address(addr) if at >= 0 else None
        if at >= 0:
            cursor = at + len(addr)
        if normal is None:
            if addr or display:
                skipped.append(f"{name}: skipped {_clip(addr or display)!r}: not an address")
            continue
        if normal not in seen:
            seen.add(normal)
            found.append(Mailbox(_sanitize(_decode_words(display)), normal))
            if strict is not None:
                skipped.append(f"{name}: {normal!r} recovered by the lenient parser")
    return found


_SPECIALS = frozenset('@<>()[],;:\\"')


def _printable(text: str) -> bool:
    return all(c.isprintable() and not c.isspace() for c in text)


def normalize_address(addr: str) -> str | None:
    """``Local@Domain`` to ``Local@domain``; None if it is not an address at all.

    The local part is kept as written; it must be non-empty and either quoted or free of
    white space and specials. The domain is lower-cased (a trailing dot dropped); it may be
    a unicode (IDN) domain or a ``[domain literal]``.
    """
    addr = addr.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@")
    domain = domain.rstrip(".").lower()
    if not at or not local or not domain:
        return None
    if len(local) >= 2 and local[0] == local[-1] == '"':
        if "\n" in local or "\r" in local:
            return None
    elif not _printable(local) or _SPECIALS.intersection(local):
        return None
    if domain[0] == "[" and domain[-1] == "]":
        if not _printable(domain):
            return None
    elif (
        not _printable(domain)
        or _SPECIALS.intersection(domain)
        or "" in domain.split(".")
    ):
        return None
    return f"{local}@{domain}"


_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def domain_key(domain: str) -> str:
    """Comparable form of a domain: lower-case A-label (``bücher.de`` -> ``xn--bcher-kva.de``).

    Each label is NFC-normalised, lower-cased and punycoded by itself. The stdlib's ``idna``
    codec is IDNA 2003, whose nameprep maps ``ß`` to ``ss`` (and full-width letters to ASCII):
    with it, ``straße.de`` would match mail to the different domain ``strasse.de``. An
    ``xn--`` label is decoded and re-encoded so that its case does not matter; one that does
    not decode to a non-ASCII label is kept as it is (so ``xn--acme-`` never equals ``acme``).
    """
    text = unicodedata.normalize("NFC", domain.strip().translate(_IDEOGRAPHIC_DOTS))
    labels = []
    for label in text.rstrip(".").lower().split("."):
        if label.startswith("xn--"):
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                decoded = ""
            decoded = unicodedata.normalize("NFC", decoded).lower()
            label = decoded if decoded and not decoded.isascii() else label
        if not label.isascii():
            label = "xn--" + label.encode("punycode").decode("ascii")
        labels.append(label)
    return ".".join(labels)


__all__ = [
    "HEADER_CAP",
    "MailHeaders",
    "Mailbox",
    "cut_header_block",
    "domain_key",
    "header_end",
    "normalize_address",
    "parse_header_block",
    "read_header_block",
    "read_headers",
]
