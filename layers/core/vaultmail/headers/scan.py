"""A linear, non-recursive reading of an address-list value (RFC 5322 3.4, 4.4 obs-addr-list).

It splits a value into mailboxes the way the RFC's grammar does, and nothing more: quoted
strings, comments (nested to any depth: counted, never recursed into), domain literals,
angle-addrs (with an obsolete route), groups (``name: ... ;``, nested groups hold no mailbox
of their own), and the separators. What an addr-spec is, is left to ``normalize_address``.

Used where the standard library's strict parser cannot be (a value that is too long for it: it
is quadratic; a value it fails on or reports as malformed; the per-mail budget spent), instead
of ``email.utils.getaddresses``, which recurses once per ``:`` (a 2 KB ``To: g:g:g:...`` is a
RecursionError), glues white-space separated words into addresses, and takes display-name
text for an address (``ceo@acme.test <x@evil.test>`` gave both). The RFC's answers, and the
repairs listed by the caller in ``skipped``:

* an angle-addr is the mailbox; the text before it is its display name even when it looks
  like an address (``ceo@acme.test <x@evil.test>`` is x@evil.test; repair: "display name");
* two mailboxes without the comma between them (``Bob <bob@x> Bobby <bobby@x>``): both
  angle-addrs are mailboxes (repair: "missing comma");
* a bare addr-spec (``smith@gmail.com``) is an address; words that are not one addr-spec
  (``John Doe john@acme.com``) are not;
* ``;`` outside a group separates like ``,`` (Outlook; repair: "separator").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_STOP = frozenset('"()[]<>,;:\\')
# Where the next character that matters is: C's strpbrk, so that the text between specials is
# skipped in C. Only a character class: the grammar itself is the Python below.
_NEXT_STOP = re.compile(r'["()\[\]<>,;:\\]')
_NEXT_IN_ANGLE = re.compile(r'["\[(\\,>]')
_NEXT_IN_ROUTE = re.compile(r'["\[(\\>]')  # an obs-route's ',' are its own
# What the quick path must not see: anything that quotes, comments or escapes.
_QUOTING = '"()[]\\'


@dataclass(slots=True)
class Found:
    """One mailbox candidate: its display name (quotes resolved) and its addr-spec text."""

    name: str
    spec: str


@dataclass
class Scan:
    """The result of scanning one value."""

    found: list[Found] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def scan_addresses(value: str) -> Scan:
    """The mailboxes of an (unfolded) address-list value; linear in its length, never recursive."""
    out = Scan()
    if "<@" not in value and not any(c in value for c in _QUOTING):  # an obs-route may hold ','
        _quick(value, out)
    else:
        _Scanner(value, out).run()
    return out


def _quick(value: str, out: Scan) -> None:
    """No quoting, comments or escapes: every separator is structural, so ``str`` methods do."""
    if ";" in value:
        if ":" not in value:
            out.repairs.append("';' used as a separator between addresses")
        value = value.replace(";", ",")
    for element in value.split(","):
        if ":" in element:
            angle = element.find("<")
            head = element[: angle if angle >= 0 else len(element)]
            colon = head.rfind(":")
            if colon >= 0:  # a group's name (nested or not) is no mailbox
                if head.count(":") > 1:
                    out.repairs.append("nested groups (a group holds mailboxes, not groups)")
                element = element[colon + 1 :]
        if "<" not in element and ">" not in element:
            _bare(element, out)
            continue
        _angles(element, out)


def _angles(element: str, out: Scan) -> None:
    """An element holding angle brackets, in the quick path (no quotes or comments inside)."""
    pos = 0
    count = 0
    while True:
        lt = element.find("<", pos)
        if lt < 0:
            break
        gt = element.find(">", lt)
        if gt < 0:
            gt = len(element)
            out.repairs.append("an angle-addr without its '>'")
        _add_angle(element[pos:lt].replace(">", " "), element[lt + 1 : gt], out)
        count += 1
        pos = gt + 1
    tail = element[pos:].replace(">", " ").strip()
    if tail:
        out.rejected.append(tail)
    if count > 1:
        out.repairs.append("a missing comma between mailboxes")


def _add_angle(name: str, inner: str, out: Scan, *, name_has_at: bool | None = None) -> None:
    inner = inner.strip()
    if inner.startswith("@") and ":" in inner:  # obs-route: <@relay1,@relay2:user@host>
        inner = inner[inner.index(":") + 1 :].strip()
    name = " ".join(name.split())
    if name_has_at if name_has_at is not None else "@" in name:
        out.repairs.append(f"display name {name!r} is not an address")
    out.found.append(Found(name, inner))


def _bare(element: str, out: Scan) -> None:
    if "@" not in element:  # no addr-spec at all (most often: nothing, between two commas)
        if element and not element.isspace():
            out.rejected.append(element)
        return
    words = element.split()
    if len(words) == 1:
        out.found.append(Found("", words[0]))
    elif words:
        out.rejected.append(" ".join(words))


class _Scanner:
    """The general path: one pass, an explicit state, comment depth counted."""

    def __init__(self, value: str, out: Scan) -> None:
        self.v = value
        self.out = out
        self.groups = 0
        self._reset()

    def _reset(self) -> None:
        # The element's text outside angle brackets, comments dropped: (quoted?, text) tokens.
        self.text: list[tuple[bool, str]] = []
        self.angles: list[tuple[list[tuple[bool, str]], str]] = []  # (name tokens, inner)

    def run(self) -> None:
        v, n, i = self.v, len(self.v), 0
        while i < n:
            c = v[i]
            if c not in _STOP:
                found = _NEXT_STOP.search(v, i)
                j = found.start() if found else n
                self.text.append((False, v[i:j]))
                i = j
            elif c in '"[':
                j = self._quoted(i, '"' if c == '"' else "]")
                self.text.append((True, v[i:j]))
                i = j
            elif c == "(":
                i = self._comment(i)
                self.text.append((False, " "))
            elif c == "<":
                i = self._angle(i)
            elif c in ",;:":
                self._separator(c)
                i += 1
            else:  # a stray '>', ')', ']' or '\\'
                self.text.append((False, " " if c != "\\" else v[i : i + 2]))
                i += 2 if c == "\\" else 1
        self._flush()

    def _separator(self, c: str) -> None:
        """``,`` ends a mailbox, ``:`` opens a group (its name is no mailbox), ``;`` closes one."""
        if c == ":":
            self.groups += 1
            if self.groups > 1:
                self.out.repairs.append("nested groups (a group holds mailboxes, not groups)")
            self.text = []  # the group's name (nested or not) is no mailbox
            return
        if c == ";":
            if self.groups:
                self.groups -= 1
            else:
                self.out.repairs.append("';' used as a separator between addresses")
        self._flush()

    def _quoted(self, i: int, close: str) -> int:
        """Offset just past the quoted string (or domain literal) starting at ``i``.

        Jumps from one quoted pair to the next with ``str.find`` (in C), not a character at a time.
        """
        v, j = self.v, i + 1
        while True:
            end = v.find(close, j)
            escape = v.find("\\", j, len(v) if end < 0 else end)
            if escape >= 0:
                j = escape + 2
                continue
            if end >= 0:
                return end + 1
            self.out.repairs.append("an unclosed quoted string" if close == '"' else "an unclosed '['")
            return len(v)

    def _comment(self, i: int) -> int:
        """Offset just past the comment starting at ``i``; nesting is counted, not recursed.

        From one ')' to the next, the '(' between are counted by ``str.count`` (in C): a
        comment nested a million deep is one step, not a million.
        """
        v, n, pos, depth = self.v, len(self.v), i + 1, 1
        while depth:
            close = v.find(")", pos)
            stop = n if close < 0 else close
            if "\\" in v[pos:stop]:
                return self._comment_escaped(pos, depth)
            opened = v.count("(", pos, stop)
            depth += opened
            if close < 0:
                self.out.repairs.append("an unclosed comment")
                pos = n
                break
            depth -= 1
            pos = close + 1
        return pos

    def _comment_escaped(self, j: int, depth: int) -> int:
        """The rest of a comment holding quoted pairs, one character at a time."""
        v, n = self.v, len(self.v)
        while j < n and depth:
            c = v[j]
            if c == "\\":
                j += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            j += 1
        if depth:
            self.out.repairs.append("an unclosed comment")
        return j

    def _angle(self, i: int) -> int:
        """Read ``<...>`` from ``i``: quoted strings, literals and comments inside are kept whole."""
        v, n, j = self.v, len(self.v), i + 1
        inner: list[str] = []
        route: bool | None = None
        while j < n and v[j] != ">":
            c = v[j]
            if c == ",":
                if route is None:  # decided once per angle-addr (a join per ',' is quadratic)
                    route = "".join(inner).lstrip().startswith("@")
                if not route:
                    break  # '<' never closed (not an obs-route's list): the mailbox ends here
            if c in "\"[":
                k = self._quoted(j, '"' if c == '"' else "]")
                inner.append(v[j:k])
                j = k
            elif c == "(":
                j = self._comment(j)
            elif c == "\\":
                inner.append(v[j : j + 2])
                j += 2
            else:
                found = (_NEXT_IN_ROUTE if route else _NEXT_IN_ANGLE).search(v, j + 1)
                k = found.start() if found else n
                # obs-local-part / obs-domain (RFC 5322 4.4): white space between the atoms
                inner.append("".join(v[j:k].split()))
                j = k
        self.angles.append((self.text, "".join(inner)))
        self.text = []
        if j < n and v[j] == ">":
            return j + 1
        self.out.repairs.append("an angle-addr without its '>'")
        return j

    def _flush(self) -> None:
        if self.angles:
            for tokens, inner in self.angles:
                name_has_at = any("@" in t for quoted, t in tokens if not quoted)
                _add_angle(_display(tokens), inner, self.out, name_has_at=name_has_at)
            tail = " ".join("".join(t for _, t in self.text).split())
            if tail:
                self.out.rejected.append(tail)
            if len(self.angles) > 1:
                self.out.repairs.append("a missing comma between mailboxes")
        else:
            words = _words(self.text)
            if len(words) == 1:
                self.out.found.append(Found("", words[0]))
            elif words:
                self.out.rejected.append(" ".join(words))
        self._reset()


def _unquote(token: str) -> str:
    """A quoted string's text: quotes dropped, quoted pairs resolved (a literal stays as it is)."""
    if not token.startswith('"'):
        return token
    body = token[1:-1] if len(token) > 1 and token.endswith('"') else token[1:]
    if "\\" not in body:
        return body
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            i += 1
        out.append(body[i])
        i += 1
    return "".join(out)


def _display(tokens: list[tuple[bool, str]]) -> str:
    return " ".join("".join(_unquote(t) if quoted else t for quoted, t in tokens).split())


def _words(tokens: list[tuple[bool, str]]) -> list[str]:
    """White-space separated words; a quoted string or literal is part of its word."""
    words: list[str] = []
    glue = False  # the last token ended inside a word
    for quoted, t in tokens:
        if quoted:
            if glue and words:
                words[-1] += t
            else:
                words.append(t)
            glue = True
            continue
        parts = t.split()
        if not parts:
            glue = False
            continue
        if glue and words and not t[0].isspace():
            words[-1] += parts.pop(0)
        words.extend(parts)
        glue = not t[-1].isspace()
    return words


def strip_comments(text: str) -> str:
    """``text`` with its comments (nested to any depth) as single spaces; quoted strings kept."""
    if "(" not in text:
        return text
    out: list[str] = []
    depth, quoted, i, n = 0, False, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if not depth:
                out.append(text[i : i + 2])
            i += 2
            continue
        if quoted:
            quoted = c != '"'
        elif c == "(":
            depth += 1
            if depth == 1:
                out.append(" ")
        elif c == ")" and depth:
            depth -= 1
            i += 1
            continue
        elif c == '"' and not depth:
            quoted = True
        if not depth:
            out.append(c)
        i += 1
    return "".join(out)
