"""Locate the fields of a decoded header block: names and colons only, nothing else.

This is the one place that looks at the block's text below the ``email`` package, and it only
finds where fields start (a field name, optional white space, a colon, at the start of a line)
and where they end (the next line that does not start with white space). What a value means is
left to the standard library (``policy.default.header_source_parse`` / ``header_fetch_parse``).

Why not the stdlib's ``Parser`` for this step:

* RFC 5322 section 4.5 (obs-fields) allows white space between a field name and its colon,
  and section 3.1 says obsolete forms must be accepted when reading (Appendix A.6.3:
  ``From  : John Doe <jdoe@machine.example>``). The stdlib's feed parser takes such a line for
  the end of the header section (``To : x``) or for an mbox ``From `` line (``From : x``).
* An mbox ``From `` line ("From" and a space, no colon after the word) is only ever the first
  line; anywhere else it is a line that is not a header.
* The feed parser ends the header section at the first line that is not a header line and
  calls the rest body. Here the block already ends at the first empty line, so such a line is
  damage inside the header block: it is skipped (and listed in ``skipped``), at most
  ``MAX_JUNK_LINES`` times; after that the rest is taken to be a body that lost its empty line.
* It runs a Python loop per line (0.3 s on a 1 MiB block of short lines); these few regular
  expressions run in C over the block and hand Python only the fields vaultmail reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import NotAMail

MAX_JUNK_LINES = 8  # non-header lines skipped inside one header block before giving up

# A field name is printable US-ASCII except the colon (RFC 5322 3.6.8 ftext); obs-fields allow
# white space before the colon (4.5).
_NAME = r"[\x21-\x39\x3b-\x7e]+[ \t]*:"
_FIELD = re.compile(_NAME, re.ASCII)
# The start of a line that is not a continuation line (nor empty).
_LINE_START = re.compile(r"^[^ \t\n]", re.MULTILINE)
# A line that is neither a field nor a continuation nor empty.
_JUNK = re.compile(rf"^(?=[^ \t\n])(?!{_NAME}).*$", re.ASCII | re.MULTILINE)


def _clip(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _wanted_pattern(names: Iterable[str]) -> re.Pattern[str]:
    """A wanted field: its name, white space, the colon; then (group 2) the rest of the line
    and its continuation lines."""
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(
        rf"^({alternatives})[ \t]*:(.*(?:\n[ \t].*)*)", re.ASCII | re.IGNORECASE | re.MULTILINE
    )


class FieldLocator:
    """Finds the fields named ``names`` (lower case) in decoded header blocks."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self._wanted = _wanted_pattern(self.names)

    def locate(self, text: str, skipped: list[str]) -> list[tuple[str, str]]:
        """``(lower-case name, raw value)`` of every wanted field, in order.

        The raw value is what ``policy.header_source_parse`` makes of the field's lines: the
        first line's text after the colon without leading white space, then the continuation
        lines, line breaks kept (``\\n``), the last one dropped. Raises NotAMail when the
        block holds no field, or its first line (after an mbox ``From `` line and stray
        continuation lines) is not one.
        """
        # Lone CRs are line breaks too (the stdlib's parser splits on them as well).
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        start = self._start(text, skipped)
        end = self._junk(text, start, skipped)
        if start or end < len(text):
            text = text[start:end]
        # findall: the fields as strings, made in C (a Python step per field is most of the
        # time of a 1 MiB block of short fields).
        return [(name.lower(), value.lstrip(" \t")) for name, value in self._wanted.findall(text)]

    @staticmethod
    def _start(text: str, skipped: list[str]) -> int:
        """Offset of the first field; skips a leading mbox ``From `` line and stray continuations."""
        pos = 0
        if text.startswith("From ") and not _FIELD.match(text):
            pos = _line_end(text, 0)  # an mbox 'From ' line: only ever the first line
        if pos < len(text) and text[pos] in " \t\n":
            first = _LINE_START.search(text, pos)
            end = first.start() if first else len(text)
            if text[pos:end].strip():
                lines = text.count("\n", pos, end) or 1
                skipped.append(
                    f"header block: skipped {_clip(text[pos:end])!r} ({lines} lines): "
                    "continuation lines with no header before them"
                )
            pos = end
        if not _FIELD.match(text, pos):
            raise NotAMail("no RFC 822 header found at the start of the mail")
        return pos

    @staticmethod
    def _junk(text: str, start: int, skipped: list[str]) -> int:
        """Note the lines that are not headers; the end of what is read as the header block."""
        for count, match in enumerate(_JUNK.finditer(text, start)):
            if count == MAX_JUNK_LINES:
                skipped.append(
                    f"header block: more than {MAX_JUNK_LINES} lines that are not headers; "
                    f"ignored its last {len(text) - match.start()} characters"
                )
                return match.start()
            line = match.group()
            why = (
                "an mbox 'From ' line inside the header block"
                if line.startswith("From ")
                else "not a header line"
            )
            skipped.append(f"header block: skipped {_clip(line)!r}: {why}")
        return len(text)


def _line_end(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1
