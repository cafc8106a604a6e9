"""Property tests of the header reader (Hypothesis): no input makes it raise anything but the
documented NotAMail, and every address of a well-formed generated header block is found, in
order, in its field, whichever parser reads it (the stdlib's strict one, or the RFC 5322 scan
that takes over beyond the strict parser's budget)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaultmail.errors import NotAMail
from vaultmail.headers import MailHeaders, addresses, normalize_address, read_headers

FIELDS = {"From": "from_", "To": "to", "Cc": "cc", "Bcc": "bcc", "Reply-To": "reply_to"}
# Modest example counts: the unit tier runs on a loaded 2-core machine; no deadline (no timing).
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# --- well-formed header blocks ----------------------------------------------------------------

_atom = st.text("abcdefghijklmnopqrstuvwxyz0123456789+_-", min_size=1, max_size=8)
_local = st.lists(_atom, min_size=1, max_size=3).map(".".join)
_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_domain = st.tuples(st.lists(_label, min_size=1, max_size=3), st.sampled_from(["com", "org", "test"])).map(
    lambda parts: ".".join([*parts[0], parts[1]])
)
_spec = st.tuples(_local, _domain, st.booleans()).map(
    lambda p: (f"{p[0]}@{p[1].upper() if p[2] else p[1]}", f"{p[0]}@{p[1]}")
)
_word = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_phrase = st.lists(_word, min_size=1, max_size=3).map(" ".join)
_quoted_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters='"\\'),
    min_size=1,
    max_size=12,
).filter(lambda t: t.strip() == t and "=?" not in t)
_unicode_name = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp", "Zs")), min_size=1, max_size=8
)


def _comment(depth: int, text: str) -> str:
    return "(" * depth + text + ")" * depth


@st.composite
def mailbox(draw: Any) -> tuple[str, str]:
    """``(rendered mailbox, expected bare address)`` in one of RFC 5322's forms."""
    written, normal = draw(_spec)
    form = draw(st.sampled_from(["bare", "name", "quoted", "encoded", "comment_after", "comment_before"]))
    depth = draw(st.sampled_from([1, 2, 3, 40, 2000]))  # nested comments, up to thousands deep
    if form == "name":
        return f"{draw(_phrase)} <{written}>", normal
    if form == "quoted":  # a quoted display name may hold specials, even an address
        text = draw(st.one_of(_quoted_text, _spec.map(lambda s: s[0])))
        return f'"{text}" <{written}>', normal
    if form == "encoded":
        name = base64.b64encode(draw(_unicode_name).encode()).decode()
        return f"=?utf-8?b?{name}?= <{written}>", normal
    if form == "comment_after":
        return f"{written} {_comment(depth, draw(_phrase))}", normal
    if form == "comment_before":
        return f"{_comment(depth, draw(_phrase))} {written}", normal
    return written, normal


@st.composite
def address_list(draw: Any) -> tuple[str, list[str]]:
    items: list[str] = []
    expected: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 4)) == 0:  # a group
            members = draw(st.lists(mailbox(), max_size=3))
            items.append(f"{draw(_phrase)}: {', '.join(m for m, _ in members)};")
            expected += [e for _, e in members]
        else:
            rendered, normal = draw(mailbox())
            items.append(rendered)
            expected.append(normal)
    return ", ".join(items), expected


def _fold(draw: Any, value: str) -> str:
    """Random folding: some spaces become a line break and white space (RFC 5322 3.2.2)."""
    parts = value.split(" ")
    out = parts[0]
    for part in parts[1:]:
        out += draw(st.sampled_from([" ", " ", " ", "\n ", "\n\t", "\n  "])) + part
    return out


@st.composite
def header_block(draw: Any) -> tuple[bytes, dict[str, list[str]]]:
    lines = []
    expected: dict[str, list[str]] = {f: [] for f in FIELDS.values()}
    names = st.sampled_from([*FIELDS, "Subject", "Received", "X-Note"])
    fields = draw(st.lists(names, min_size=1, max_size=8))
    if not any(f in FIELDS for f in fields):
        fields.append("To")
    for name in fields:
        spacing = draw(st.sampled_from(["", "", "", " ", "  ", "\t", " \t "]))  # obs-fields (4.5)
        spelled = draw(st.sampled_from([name, name.lower(), name.upper()]))
        if name in FIELDS:
            value, found = draw(address_list())
            expected[FIELDS[name]] += found
        else:
            value = draw(_phrase)
        lines.append(f"{spelled}{spacing}: {_fold(draw, value)}")
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = "".join(line + "\n" for line in lines).replace("\n", eol)
    return text.encode("utf-8"), expected


@dataclass
class Budget:
    """Which parser reads the addresses: the strict one (within its budget) or the scan only."""

    name: str
    chars: int


BUDGETS = [Budget("strict", addresses.STRICT_BUDGET), Budget("scan", 0)]


@pytest.mark.parametrize("budget", BUDGETS, ids=lambda b: b.name)
@PROPERTY
@given(case=header_block())
def test_every_address_of_a_well_formed_block_is_found(
    budget: Budget, case: tuple[bytes, dict[str, list[str]]]
) -> None:
    block, expected = case
    with mock.patch.object(addresses, "STRICT_BUDGET", budget.chars):
        headers = read_headers(block + b"\n" + b"body: not a header\n")
    for field, want in expected.items():
        assert [m.addr for m in getattr(headers, field)] == want, (field, block)
    assert not [s for s in headers.skipped if "not an address" in s or "display name" in s], headers.skipped


# --- anything at all -----------------------------------------------------------------------------

_pieces = st.sampled_from(
    ["(", ")", '"', "<", ">", ":", ";", ",", "@", "\\", "[", "]", "=?utf-8?q?", "?=", " ", "\t",
     "\n ", "\r\n\t", "a@x.test", "Name", "g:", "\r", "\x00", "é", "\ud83d", "From ", "To :"]
)


@st.composite
def junk_value(draw: Any) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        piece = draw(st.one_of(_pieces, st.text(max_size=10)))
        parts.append(piece * draw(st.sampled_from([1, 1, 2, 10, 500, 3000])))  # nesting up to thousands
    return "".join(parts)


@st.composite
def junk_block(draw: Any) -> bytes:
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        name = draw(st.sampled_from([*FIELDS, "Subject", "Date", "Message-ID", "Sender", "From ", "", " "]))
        spacing = draw(st.sampled_from(["", " ", "\t"]))
        lines.append(f"{name}{spacing}:{draw(junk_value())}")
    text = "\n".join(lines)
    data = text.encode("utf-8", "surrogatepass")
    return data + draw(st.binary(max_size=20))


def _check(headers: MailHeaders) -> None:
    for field in (*FIELDS.values(), "sender"):
        for box in getattr(headers, field):
            assert normalize_address(box.addr) == box.addr
            box.name.encode("utf-8")  # JSON-safe: no lone surrogates
    assert all(isinstance(s, str) for s in headers.skipped)
    for text in (headers.subject, headers.message_id, headers.date):
        if text is not None:
            text.encode("utf-8")


@PROPERTY
@given(block=junk_block())
def test_no_input_raises_anything_but_not_a_mail(block: bytes) -> None:
    try:
        headers = read_headers(block)
    except NotAMail as exc:
        assert exc.exit_code == 3 and exc.reason == "NotAMail", exc.message
        return
    _check(headers)


@PROPERTY
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        _check(read_headers(b"From: a@x.test\n" + data))
    except NotAMail as exc:  # pragma: no cover - a From line first: always a mail
        raise AssertionError(exc.message) from exc
