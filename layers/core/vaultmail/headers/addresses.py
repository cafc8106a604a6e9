"""The mailboxes of address headers: the standard library's strict parser, bounded, then the scan.

``policy.default.header_fetch_parse`` (``headerregistry``) is the reference for well-formed
values, but it is quadratic in a value's length (about 6 us per character of an 8 KB To:, and
a 600 KB one took ~30 s), recurses once per nested comment, and raises on some malformed input
(``"``, two groups without a comma). So it parses values up to ``STRICT_VALUE_LIMIT``
characters, up to ``STRICT_BUDGET`` characters per mail, with at most ``MAX_COMMENT_DEPTH``
nested comments; it is given nothing else. Its answer is used when it reports no defect that
can lose or invent an address. Every other value, and every value it fails on or reports as
malformed, is read by :mod:`.scan` instead (linear, never recursive), whose repairs are listed
in ``skipped``. Never both: a union is how display-name text became a vault
(``ceo@acme.test <x@evil.test>``: the strict parser's fallback found ``ceo@acme.test``, the
lenient ``getaddresses`` found ``x@evil.test``).
"""

from __future__ import annotations

from email import errors, policy
from email.header import decode_header, make_header
from typing import Any

from .model import Mailbox
from .scan import scan_addresses

STRICT_VALUE_LIMIT = 4 * 1024  # longest value given to the (quadratic) strict parser
STRICT_BUDGET = 4 * 1024  # characters of address values strictly parsed per mail
MAX_COMMENT_DEPTH = 16  # deeper nesting is not given to the (recursive) strict parser
DECODED_NAMES = 1000  # encoded-word display names decoded per mail by the scan
MAX_NOTES = 20  # repairs and skipped values listed per field (the rest counted)

# Defects of an address header that lose no address: obsolete but parsed syntax, RFC 6532
# local parts, and an encoded word in an unknown charset (only the display name suffers).
_BENIGN_DEFECTS = (
    errors.ObsoleteHeaderDefect,
    errors.NonASCIILocalPartDefect,
    errors.CharsetError,
    errors.UndecodableBytesDefect,
)


def clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sanitize(text: str) -> str:
    """Undecodable bytes come back from the email package as lone surrogates: U+FFFD them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def decode_words(text: str) -> str:
    """RFC 2047 decoding for the scan's display names; the text unchanged if that fails."""
    if "=?" not in text:
        return text
    try:
        parts = decode_header(text)
    except Exception:
        return text
    try:
        return str(make_header(parts))
    except LookupError:  # an unknown charset: its bytes as ASCII, the rest as U+FFFD (as the stdlib)
        return "".join(_decode_part(p, charset) for p, charset in parts)
    except Exception:
        return text


def _decode_part(part: bytes | str, charset: str | None) -> str:
    if isinstance(part, str):
        return part
    try:
        return part.decode(charset or "ascii", "replace")
    except LookupError:
        return part.decode("ascii", "replace")


class Budget:
    """What the stdlib may still be given for this mail: characters of address values for the
    strict parser, and encoded-word display names to decode (~25 us each: 26,000 of them in
    1 MiB took 0.6 s; names never choose a vault, so past the budget they stay as written)."""

    def __init__(self, chars: int | None = None) -> None:
        self.chars = STRICT_BUDGET if chars is None else chars
        self.names = DECODED_NAMES

    def decode(self, field: str, text: str, skipped: list[str]) -> str:
        if "=?" not in text:
            return text
        if self.names > 0:
            self.names -= 1
            return decode_words(text)
        if self.names == 0:
            self.names = -1
            skipped.append(
                f"{field}: more than {DECODED_NAMES} encoded display names: the rest kept as written"
            )
        return text

    def take(self, n: int) -> bool:
        if n <= self.chars:
            self.chars -= n
            return True
        self.chars = 0
        return False


def mailboxes(name: str, raws: list[str], skipped: list[str], budget: Budget) -> tuple[Mailbox, ...]:
    """The mailboxes of every occurrence of the address header ``name``, in order."""
    out: list[Mailbox] = []
    rest: list[str] = []
    for raw in raws:
        value = raw.replace("\r", "").replace("\n", "")  # unfold, as header_fetch_parse does
        strict: list[Mailbox] | str | None = None
        if not rest and _fits(value, budget):
            strict = _strict(name, raw, value, skipped)
        if isinstance(strict, list):
            out.extend(strict)
            continue
        if strict is not None:
            skipped.append(f"{name}: malformed ({strict}): {clip(value)!r}, read by the RFC 5322 scan")
        rest.append(value)
    if rest:
        # Each occurrence is an address list: the rest is read as one (one pass, not one per field).
        out.extend(_scanned(name, ",".join(rest), skipped, budget))
    return tuple(out)


def _fits(value: str, budget: Budget) -> bool:
    return (
        len(value) <= STRICT_VALUE_LIMIT
        and value.count("(") <= MAX_COMMENT_DEPTH
        and budget.take(len(value))
    )


def _strict(name: str, raw: str, value: str, skipped: list[str]) -> list[Mailbox] | str:
    """The strict parser's mailboxes, or why its answer cannot be trusted."""
    try:
        header: Any = policy.default.header_fetch_parse(name, raw)
        found: list[Mailbox] = []
        rejected: list[str] = []
        for a in header.addresses:
            why = _strict_one(a, value, found, rejected)
            if why:
                return why
        serious = [d for d in header.defects if not isinstance(d, _BENIGN_DEFECTS)]
    except Exception as exc:  # IndexError, AttributeError... on some malformed values
        return f"the strict parser failed: {type(exc).__name__}"
    if serious:
        return str(serious[0])
    skipped.extend(f"{name}: skipped {clip(sanitize(r))!r}: not an address" for r in rejected)
    return found


def _strict_one(a: Any, value: str, found: list[Mailbox], rejected: list[str]) -> str | None:
    """One address of the strict parser into ``found`` or ``rejected``; or why not to trust it."""
    spec = a.addr_spec if a.username and a.domain else ""
    # The strict parser turns 'John Doe a@x' into the quoted '"John Doe a"@x':
    # a quoted local part that was never quoted in the header is a misparse.
    if spec.startswith('"') and '"' not in value:
        return "unquoted words taken for a quoted local part"
    normal = normalize_address(spec) if spec else None
    if normal is None:
        rejected.append(a.display_name or a.username or "(unparsable)")
    else:
        found.append(Mailbox(sanitize(a.display_name), normal))
    return None


def _scanned(name: str, value: str, skipped: list[str], budget: Budget) -> list[Mailbox]:
    scan = scan_addresses(value)
    notes = [f"{name}: repaired {clip(repair)}" for repair in dict.fromkeys(scan.repairs)]
    unlisted = 0
    found: list[Mailbox] = []
    for item in scan.found:
        spec = item.spec
        normal = normalize_address(_plain_local(spec) if '"' in spec else spec) if spec else None
        if normal is not None:
            display = sanitize(budget.decode(name, item.name, skipped)) if item.name else ""
            found.append(Mailbox(display, normal))
        elif len(notes) >= MAX_NOTES:  # counted, not formatted
            unlisted += 1
        elif spec or item.name:
            notes.append(f"{name}: skipped {clip(sanitize(spec or item.name))!r}: not an address")
    for rejected in scan.rejected:
        if len(notes) >= MAX_NOTES:
            unlisted += 1
        else:
            notes.append(f"{name}: skipped {clip(sanitize(rejected))!r}: not an address")
    unlisted += max(0, len(notes) - MAX_NOTES)
    skipped.extend(notes[:MAX_NOTES])
    if unlisted:
        skipped.append(f"{name}: {unlisted} more repairs and skipped values not listed")
    return found


_ATEXT_SPECIALS = frozenset('()<>[]:;@\\,." ')


def _plain_local(spec: str) -> str:
    """``"john"@x`` as ``john@x``: the strict parser drops quotes a local part does not need."""
    local, at, domain = spec.rpartition("@")
    if not (at and len(local) >= 2 and local[0] == local[-1] == '"'):
        return spec
    inner = local[1:-1]
    atoms = inner.split(".")
    if all(a and not _ATEXT_SPECIALS.intersection(a) and a.isprintable() for a in atoms):
        return f"{inner}@{domain}"
    return spec


_SPECIALS = frozenset('@<>()[],;:\\"')


def _printable(text: str) -> bool:
    return text.isprintable() and " " not in text


def normalize_address(addr: str) -> str | None:
    """``Local@Domain`` to ``Local@domain``; None if it is not an address at all.

    The local part is kept as written; it must be non-empty and either quoted or free of
    white space and specials. The domain is lower-cased (a trailing dot dropped); it may be
    a unicode (IDN) domain or a ``[domain literal]``.
    """
    addr = addr.strip().strip("<>").strip()
    local, at, domain = addr.rpartition("@")
    domain = domain.rstrip(".").lower()
    if not at or not _local_ok(local) or not _domain_ok(domain):
        return None
    return f"{local}@{domain}"


def _local_ok(local: str) -> bool:
    """Non-empty, and quoted (on one line) or free of white space and specials."""
    if len(local) >= 2 and local[0] == local[-1] == '"':
        return "\n" not in local and "\r" not in local
    return bool(local) and _printable(local) and _SPECIALS.isdisjoint(local)


def _domain_ok(domain: str) -> bool:
    """Non-empty: a ``[domain literal]``, or a name without specials or empty labels at its start."""
    if not domain:
        return False
    if domain[0] == "[" and domain[-1] == "]":
        return _printable(domain)
    return _printable(domain) and _SPECIALS.isdisjoint(domain) and ".." not in domain and domain[0] != "."
