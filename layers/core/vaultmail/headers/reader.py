"""Parse a header block into :class:`MailHeaders`; never raises anything but NotAMail."""

from __future__ import annotations

from email import policy
from typing import Any

from ..errors import NotAMail, VaultmailError
from .addresses import STRICT_VALUE_LIMIT, Budget, clip, decode_words, mailboxes, sanitize
from .block import HEADER_CAP, Source, decode_header_block, read_header_block
from .fields import FieldLocator
from .model import MailHeaders
from .scan import strip_comments

ADDRESS_FIELDS = ("from", "sender", "to", "cc", "bcc", "reply-to")
TEXT_FIELDS = ("subject", "message-id", "date")
MAX_COMMENT_DEPTH_TEXT = 16  # Message-ID's parser recurses once per nested comment

_LOCATOR = FieldLocator(ADDRESS_FIELDS + TEXT_FIELDS)


def parse_header_block(block: bytes, *, truncated: bool = False) -> MailHeaders:
    """Parse a header block (as returned by :func:`read_header_block`).

    Raises NotAMail when there is no header; any other failure (a bug: every path is bounded
    and the parsers' own exceptions are caught where they are called) is a NotAMail with the
    reason ``UnreadableHeaders`` for this one mail, never an unexpected error that stops a batch.
    """
    try:
        return _parse(block, truncated)
    except VaultmailError:
        raise
    except Exception as exc:
        raise NotAMail(
            f"the header block could not be read ({type(exc).__name__}): {clip(str(exc))}",
            reason="UnreadableHeaders",
        ) from exc


def read_headers(source: Source, *, cap: int = HEADER_CAP) -> MailHeaders:
    """Read the header block of ``source`` and parse it: the one call most callers need."""
    block, truncated = read_header_block(source, cap=cap)
    return parse_header_block(block, truncated=truncated)


def _parse(block: bytes, truncated: bool) -> MailHeaders:
    if not block.strip():
        raise NotAMail("the mail has no header block (it is empty or starts with a blank line)")
    skipped: list[str] = []
    if truncated:
        skipped.append(f"header block over the size cap: parsed its first {len(block)} bytes only")
    values: dict[str, list[str]] = {}
    for name, value in _LOCATOR.locate(decode_header_block(block), skipped):
        values.setdefault(name, []).append(value)
    budget = Budget()
    boxes = {name: mailboxes(name, values.get(name, []), skipped, budget) for name in ADDRESS_FIELDS}
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


def _text(name: str, raws: list[str], skipped: list[str]) -> str | None:
    """The decoded text of the first occurrence of an unstructured-ish header."""
    if not raws:
        return None
    raw = raws[0]
    if len(raw) > STRICT_VALUE_LIMIT:
        cut = raw.rfind(" ", 0, STRICT_VALUE_LIMIT)  # encoded words hold no space: cut between
        raw = raw[: cut if cut > 0 else STRICT_VALUE_LIMIT]
        skipped.append(f"{name}: longer than {STRICT_VALUE_LIMIT} characters, truncated")
    unfolded = raw.replace("\r", "").replace("\n", "")
    value: str
    if name != "subject" and raw.count("(") > MAX_COMMENT_DEPTH_TEXT:
        skipped.append(f"{name}: more than {MAX_COMMENT_DEPTH_TEXT} comments, used the raw text")
        value = unfolded
    else:
        try:
            header: Any = policy.default.header_fetch_parse(name, raw)
            value = _obsolete(name, header, unfolded, skipped) or str(header)
        except Exception as exc:  # the email package raises odd errors on odd input
            skipped.append(f"{name}: unparsable ({type(exc).__name__}), used the raw text")
            value = decode_words(unfolded)
    return " ".join(sanitize(value).split()) or None


def _obsolete(name: str, header: Any, unfolded: str, skipped: list[str]) -> str | None:
    """RFC 5322 4.3 / 4.5.4 obsolete forms the stdlib refuses: CFWS inside a date or a msg-id
    (Appendix A.6.3: ``<1234   @   local(blah)  .machine .example>``). None: nothing to repair."""
    if name == "date" and getattr(header, "datetime", True) is None:
        text = ":".join(part.strip() for part in strip_comments(unfolded).split(":"))
        again: Any = policy.default.header_fetch_parse(name, " ".join(text.split()))
        if again.datetime is not None:
            skipped.append(f"{name}: repaired obsolete white space or comments in {clip(unfolded)!r}")
            return str(again)
    if name == "message-id" and header.defects:
        text = strip_comments(unfolded).strip()
        if text.startswith("<") and text.endswith(">") and "@" in text:
            skipped.append(f"{name}: repaired obsolete white space or comments in {clip(unfolded)!r}")
            return "".join(text.split())
    return None
