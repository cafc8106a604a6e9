"""The header reader: the fixture corpus from every kind of input, a differential check against
a full stdlib parse, and the edge cases of finding the end of the header block."""

from __future__ import annotations

import email
import importlib.util
import io
import json
import socket
from email import errors as email_errors
from email import policy
from pathlib import Path
from typing import Any

import pytest

from vaultmail import headers as hdr
from vaultmail.errors import NoPrimaryDomainRecipient, NotAMail, VaultmailError
from vaultmail.headers import (
    HEADER_CAP,
    MailHeaders,
    addresses,
    domain_key,
    header_end,
    normalize_address,
    parse_header_block,
    read_header_block,
    read_headers,
)
from vaultmail.vaults import select_vaults

FIXTURES = Path(__file__).parent / "fixtures"
MAILS = FIXTURES / "mails"
NAMES = sorted(p.stem for p in MAILS.glob("*.eml"))
FIELDS = {"from": "from_", "to": "to", "cc": "cc", "bcc": "bcc", "replyTo": "reply_to"}
BODY_5MB = b"x" * 79 + b"\n"  # one 80-byte body line, repeated below
BIG_BODY = BODY_5MB * (5 * 1024 * 1024 // 80)


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests: pure code, no network."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a unit test tried to open a socket")

    monkeypatch.setattr(socket, "socket", refuse)


def load(name: str) -> tuple[bytes, dict[str, Any]]:
    data = (MAILS / f"{name}.eml").read_bytes()
    expected = json.loads((MAILS / f"{name}.json").read_text(encoding="utf-8"))
    return data, expected


def primary(expected: dict[str, Any]) -> list[str]:
    domains = expected["primaryDomain"]
    return [domains] if isinstance(domains, str) else list(domains)


class CountingReader:
    """A binary stream that counts what is read from it and refuses unbounded reads."""

    def __init__(self, data: bytes, max_chunk: int | None = None) -> None:
        self._inner = io.BytesIO(data)
        self.bytes_read = 0
        self.calls = 0
        self.max_chunk = max_chunk  # simulate a socket-like stream with short reads

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size > 0, "the header reader must never read a whole stream"
        if self.max_chunk:
            size = min(size, self.max_chunk)
        chunk = self._inner.read(size)
        self.bytes_read += len(chunk)
        self.calls += 1
        return chunk


def as_source(data: bytes, kind: str, tmp_path: Path) -> Any:
    if kind == "bytes":
        return data
    if kind == "bytearray":
        return bytearray(data)
    if kind == "memoryview":
        return memoryview(data)
    if kind == "str":  # what `-m TEXT` gives: argv decoded with surrogateescape
        return data.decode("utf-8", "surrogateescape")
    if kind == "path":
        path = tmp_path / "mail.eml"
        path.write_bytes(data)
        return path
    if kind == "binary_stream":
        return io.BufferedReader(io.BytesIO(data))
    if kind == "text_stream":  # newline="" keeps CRLF as it is
        return io.TextIOWrapper(io.BytesIO(data), "utf-8", errors="surrogateescape", newline="")
    raise AssertionError(kind)


# --- the corpus ----------------------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    assert len(NAMES) >= 32
    for name in NAMES:
        assert (MAILS / f"{name}.json").is_file(), name
    # Every .json has its .eml.
    assert sorted(p.stem for p in MAILS.glob("*.json")) == NAMES


def test_corpus_files_are_what_make_corpus_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_corpus", FIXTURES / "make_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write(tmp_path)
    for path in sorted(tmp_path.iterdir()):
        assert path.read_bytes() == (MAILS / path.name).read_bytes(), path.name
    assert len(list(tmp_path.iterdir())) == len(list(MAILS.iterdir()))


def test_corpus_bytes_are_really_what_they_claim() -> None:
    crlf, _ = load("simple_crlf")
    assert b"\r\n" in crlf and crlf.count(b"\n") == crlf.count(b"\r\n")
    lf, _ = load("simple_lf")
    assert b"\r" not in lf
    latin1, _ = load("raw_latin1_headers")
    assert b"J\xf6rg" in latin1
    with pytest.raises(UnicodeDecodeError):
        latin1.decode("utf-8")
    utf8, _ = load("raw_utf8_headers")
    assert "Zoë".encode() in utf8


def check_expected(headers: MailHeaders, expected: dict[str, Any]) -> None:
    got = headers.as_dict()
    for key in ("from", "to", "cc", "bcc", "replyTo", "subject", "messageId"):
        assert got[key] == expected[key], key
    for key in ("date",):
        if key in expected:
            assert got[key] == expected[key], key
    if "sender" in expected:
        assert [m.addr for m in headers.sender] == expected["sender"]
    assert headers.truncated is expected.get("truncated", False)
    assert bool(headers.skipped) is expected.get("skipped", False), headers.skipped
    names = {m.addr: m.name for f in FIELDS.values() for m in getattr(headers, f)}
    for addr, name in expected.get("names", {}).items():
        assert names.get(addr) == name, addr
    if expected.get("error") == "NoPrimaryDomainRecipient":
        with pytest.raises(NoPrimaryDomainRecipient) as info:
            select_vaults(headers, primary(expected))
        assert info.value.exit_code == 6
        return
    selection = select_vaults(headers, primary(expected))
    assert list(selection.vaults) == expected["vaults"]
    if "vaultSender" in expected:
        assert selection.sender == expected["vaultSender"]


KINDS = ["bytes", "bytearray", "memoryview", "str", "path", "binary_stream", "text_stream"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", NAMES)
def test_corpus(name: str, kind: str, tmp_path: Path) -> None:
    data, expected = load(name)
    source = as_source(data, kind, tmp_path)
    if expected.get("error") == "NotAMail":
        with pytest.raises(NotAMail) as info:
            read_headers(source)
        assert info.value.exit_code == 3
        return
    headers = read_headers(source)
    check_expected(headers, expected)
    # header_bytes is the block up to (not including) the empty line, or the whole mail.
    block = data[: headers.header_bytes]
    rest = data[headers.header_bytes :]
    assert rest in (b"",) or rest.startswith((b"\n", b"\r\n"))
    assert b"\n\n" not in block and b"\n\r\n" not in block


@pytest.mark.parametrize("name", NAMES)
def test_corpus_read_by_the_scan_alone(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no budget for the strict parser, the RFC 5322 scan alone finds the same mailboxes
    and display names (what a mail past the budget gets)."""
    data, expected = load(name)
    if expected.get("error") == "NotAMail":
        return
    monkeypatch.setattr(addresses, "STRICT_BUDGET", 0)
    headers = read_headers(data)
    got = headers.as_dict()
    assert {k: got[k] for k in FIELDS} == {k: expected[k] for k in FIELDS}
    names = {m.addr: m.name for f in FIELDS.values() for m in getattr(headers, f)}
    for addr, display in expected.get("names", {}).items():
        assert names.get(addr) == display, addr


@pytest.mark.parametrize("name", NAMES)
def test_stream_reads_at_most_one_chunk_past_the_header_block(name: str) -> None:
    data, expected = load(name)
    if expected.get("error") == "NotAMail" or header_end(data) is None:
        return  # no header block followed by a body: nothing to stay out of
    stream = CountingReader(data + BIG_BODY)
    headers = read_headers(stream)
    check_expected(headers, expected)
    assert stream.bytes_read <= headers.header_bytes + 2 + hdr.READ_CHUNK


def test_small_header_in_front_of_a_5mb_body_reads_one_chunk() -> None:
    head = b"From: a@acme.com\r\nTo: b@acme.com\r\nSubject: big\r\n\r\n"
    stream = CountingReader(head + BIG_BODY)
    assert len(BIG_BODY) >= 5 * 1000 * 1000
    headers = read_headers(stream)
    assert headers.addresses() == ["a@acme.com", "b@acme.com"]
    assert stream.calls == 1
    assert stream.bytes_read <= hdr.READ_CHUNK


def test_header_block_over_several_chunks_then_a_5mb_body() -> None:
    received = b"".join(b"Received: from relay%d.example.net by mx.acme.com\n" % i for i in range(2000))
    head = b"From: a@example.org\n" + received + b"To: deep@acme.com\n\n"
    assert len(head) > 4 * hdr.READ_CHUNK
    stream = CountingReader(head + BIG_BODY)
    headers = read_headers(stream)
    assert headers.to[0].addr == "deep@acme.com"
    assert stream.bytes_read <= len(head) + hdr.READ_CHUNK


# --- differential: the header reader against a full stdlib parse of the whole mail ---------------


def _redecode(text: str) -> str:
    """A full bytes parse keeps 8-bit header bytes as surrogate escapes in addresses; decode
    them the way the header reader decodes its block (UTF-8, else Windows-1252)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "vaultmail.cp1252")


def _full_addresses(full: Any) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    for field in ("from", "to", "cc", "bcc"):
        try:
            addrs = [a for v in full.get_all(field) or [] for a in v.addresses]
        except Exception:  # the strict parser raises on some malformed values
            addrs = []
        found[field] = [normalize_address(a.addr_spec) for a in addrs if a.username and a.domain]
    return found


@pytest.mark.parametrize("name", NAMES)
def test_differential_against_full_parse(name: str) -> None:
    data, expected = load(name)
    full = email.message_from_bytes(data, policy=policy.default)
    if expected.get("error") == "NotAMail":
        assert full.keys() == []  # the stdlib finds no header either
        return
    headers = read_headers(data)
    if "stdlibDiffers" in expected:
        # The stdlib is wrong here: obsolete white space before the colon (RFC 5322 4.5, 3.1,
        # A.6.3) or display-name text taken for a mailbox (3.4). Check that it really differs,
        # and check the RFC answer written in the fixture instead.
        assert _full_addresses(full) != {f: expected[f] for f in ("from", "to", "cc", "bcc")}, (
            "the stdlib no longer differs: " + expected["stdlibDiffers"]
        )
        check_expected(headers, expected)
        return
    if any(isinstance(d, email_errors.MissingHeaderBodySeparatorDefect) for d in full.defects):
        pytest.skip(
            "a non-header line inside the header block: the stdlib ends the headers there and "
            "calls the rest body; the reader skips the line and goes on to the empty line"
        )
    compared = 0
    for raw_name, field in (("from", "from_"), ("to", "to"), ("cc", "cc"), ("bcc", "bcc"),
                            ("reply-to", "reply_to"), ("sender", "sender")):
        if any(note.startswith(f"{raw_name}:") for note in headers.skipped):
            continue  # malformed: the reader adds what the lenient parser recovers, on purpose
        try:
            values = full.get_all(raw_name) or []
            full_addrs = [a for v in values for a in v.addresses]
        except Exception:  # the strict parser raises on some malformed values
            continue
        want = [
            normalize_address(_redecode(a.addr_spec)) for a in full_addrs if a.username and a.domain
        ]
        assert [m.addr for m in getattr(headers, field)] == want, raw_name
        compared += 1
    assert compared >= 2
    try:
        block = data[: headers.header_bytes]
        block.decode("utf-8")
    except UnicodeDecodeError:
        # Known difference: the full parse turns non-UTF-8 8-bit bytes (Latin-1) into U+FFFD;
        # the reader decodes them as Windows-1252. Only compare where both can agree.
        assert headers.subject is not None and "\ufffd" not in headers.subject
        return
    full_subject = full["subject"]
    want_subject = " ".join(str(full_subject).split()) if full_subject is not None else None
    assert headers.subject == (want_subject or None)


# --- header_end and read_header_block edge cases -------------------------------------------------


@pytest.mark.parametrize(
    ("buf", "end"),
    [
        (b"A: b\n\nbody", 5),
        (b"A: b\r\n\r\nbody", 6),
        (b"A: b\n\r\nbody", 5),  # LF line, CRLF empty line
        (b"A: b\r\n\nbody", 6),  # CRLF line, LF empty line
        (b"A: b\nC: d\n\nX: y\n\n", 10),  # the first empty line wins
        (b"\nA: b\n\n", 0),  # a leading empty line: empty header block
        (b"\r\nA: b\r\n\r\n", 0),
        (b"A: b\nC: d\n", None),  # no empty line (yet)
        (b"A: b", None),
        (b"", None),
        (b"A: b\n \nC: d\n\n", 12),  # a white-space line is a continuation, not the end
    ],
)
def test_header_end(buf: bytes, end: int | None) -> None:
    assert header_end(buf) == end
    assert header_end(bytearray(buf)) == end


def test_header_end_with_start_finds_a_separator_straddling_the_old_end() -> None:
    buf = b"A: b\r\n\r\nbody"  # the separator \n\r\n is at 5..7
    for old_len in range(8):  # no prefix this short holds a complete separator
        assert header_end(buf[:old_len]) is None
        assert header_end(buf, max(0, old_len - 2)) == 6


@pytest.mark.parametrize("offset", range(-4, 5))
@pytest.mark.parametrize(
    ("eol", "blank"), [(b"\r\n", b"\r\n"), (b"\n", b"\n"), (b"\n", b"\r\n"), (b"\r\n", b"\n")]
)
def test_separator_split_across_chunk_boundary(offset: int, eol: bytes, blank: bytes) -> None:
    # The block ends READ_CHUNK + offset bytes in: the first chunk ends at each byte of the
    # separator (the last line's end of line plus the empty line) in turn.
    first = b"From: a@acme.com" + eol + b"X-Pad: "
    block = first + b"p" * (hdr.READ_CHUNK + offset - len(first) - len(eol)) + eol
    assert len(block) == hdr.READ_CHUNK + offset
    mail = block + blank + b"To: body@acme.com" + eol
    assert header_end(mail) == len(block)
    assert read_header_block(CountingReader(mail)) == (block, False)
    assert read_headers(CountingReader(mail)).to == ()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_short_reads_still_find_the_end(chunk: int) -> None:
    mail = b"From: a@acme.com\r\nTo: b@acme.com\r\n\r\nTo: body@acme.com\r\n"
    stream = CountingReader(mail, max_chunk=chunk)
    block, truncated = read_header_block(stream)
    assert block == b"From: a@acme.com\r\nTo: b@acme.com\r\n"
    assert not truncated
    assert stream.bytes_read <= len(block) + 2 + chunk


@pytest.mark.parametrize("kind", ["bytes", "str", "binary_stream", "text_stream"])
def test_leading_blank_line_is_an_empty_header_block(kind: str, tmp_path: Path) -> None:
    mail = b"\r\nFrom: a@acme.com\r\n\r\nbody\r\n"
    assert read_header_block(as_source(mail, kind, tmp_path)) == (b"", False)
    with pytest.raises(NotAMail):
        read_headers(as_source(mail, kind, tmp_path))


@pytest.mark.parametrize("kind", ["bytes", "str", "path", "binary_stream", "text_stream"])
@pytest.mark.parametrize(
    "mail", [b"From: a@acme.com\nTo: b@acme.com\n", b"From: a@acme.com\r\nTo: b@acme.com"]
)
def test_no_blank_line_at_all_is_all_header(mail: bytes, kind: str, tmp_path: Path) -> None:
    assert read_header_block(as_source(mail, kind, tmp_path)) == (mail, False)
    assert read_headers(as_source(mail, kind, tmp_path)).addresses() == ["a@acme.com", "b@acme.com"]


@pytest.mark.parametrize("kind", ["bytes", "str", "binary_stream", "text_stream"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_cap(kind: str, eol: bytes, tmp_path: Path) -> None:
    lines = [b"To: u%03d@acme.com" % i + eol for i in range(30)]
    head = b"".join(lines)
    cap = 200
    # Over the cap: cut at the last complete line, flagged.
    block, truncated = read_header_block(as_source(head + eol + b"body", kind, tmp_path), cap=cap)
    assert truncated
    assert len(block) <= cap and block.endswith(b"\n") and head.startswith(block)
    assert len(block) > cap - len(lines[0])
    # Exactly at the cap, followed by the empty line: complete, not truncated.
    exact = head[: (cap // len(lines[0]) - 1) * len(lines[0])]
    exact += b"X: " + b"y" * (cap - len(exact) - 3 - len(eol)) + eol
    assert len(exact) == cap
    source = as_source(exact + eol + b"To: body@acme.com" + eol, kind, tmp_path)
    assert read_header_block(source, cap=cap) == (exact, False)
    # Exactly at the cap with no empty line and no body: the whole mail, not truncated.
    assert read_header_block(as_source(exact, kind, tmp_path), cap=cap) == (exact, False)
    # One byte over, no empty line: truncated.
    block, truncated = read_header_block(as_source(exact + b"Z", kind, tmp_path), cap=cap)
    assert truncated and block == exact


def test_a_single_line_longer_than_the_cap() -> None:
    block, truncated = read_header_block(b"Subject: " + b"a" * 500, cap=100)
    assert truncated and len(block) == 100


class CountingParsers:
    """Counts the work given to the two address parsers: characters and calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.strict_chars = self.strict_calls = self.scan_chars = self.scan_calls = 0
        real_fetch = policy.default.header_fetch_parse
        real_scan = addresses.scan_addresses
        counter = self

        class Policy:
            @property
            def default(self) -> Any:
                return self

            def header_fetch_parse(self, name: str, value: str) -> Any:
                counter.strict_calls += 1
                counter.strict_chars += len(value)
                return real_fetch(name, value)

        def scan(value: str) -> Any:
            counter.scan_calls += 1
            counter.scan_chars += len(value)
            return real_scan(value)

        monkeypatch.setattr(addresses, "policy", Policy())
        monkeypatch.setattr(addresses, "scan_addresses", scan)


def test_huge_header_block_is_truncated_and_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """> 1 MiB of headers (generated here, not committed): no crash, flagged, bounded work."""
    path = tmp_path / "huge.eml"
    received = b"".join(
        b"Received: from relay%06d.example.net by mx.acme.com; Tue, 5 Mar 2024\r\n" % i
        for i in range(20000)
    )
    long_to = b"To: " + b", ".join(b"User %d <user%d@example.org>" % (i, i) for i in range(20000))
    with path.open("wb") as fh:
        fh.write(b"From: origin@acme.com\r\nTo: first@acme.com\r\n")
        fh.write(long_to + b"\r\n")
        fh.write(received)
        fh.write(b"Cc: too-late@acme.com\r\n\r\n" + b"body\r\n" * 1000)
    assert path.stat().st_size > HEADER_CAP + 100_000
    work = CountingParsers(monkeypatch)
    headers = read_headers(path)
    assert headers.truncated
    assert headers.header_bytes <= HEADER_CAP
    assert headers.skipped and "size cap" in headers.skipped[0]
    assert headers.addresses()[:2] == ["origin@acme.com", "first@acme.com"]
    assert len(headers.to) == 20001
    assert headers.cc == ()  # beyond the cap
    assert select_vaults(headers, ["acme.com"]).vaults == ("first@acme.com", "origin@acme.com")
    assert work.strict_chars <= addresses.STRICT_BUDGET
    assert work.scan_calls == 1 and work.scan_chars <= len(long_to)


@pytest.mark.parametrize("shape", ["one", "many"])
def test_huge_address_headers_bound_the_work(shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The strict parser is quadratic: it gets at most STRICT_BUDGET characters per mail; the
    linear scan gets the rest, once per field name, never more than the block (timed in bench/)."""
    one = b"To: " + b", ".join(b"u%d@acme.com" % i for i in range(60000)) + b"\n"
    many = b"".join(b"Cc: c%d@acme.com\n" % i for i in range(40000))
    head = (one if shape == "one" else many)[:HEADER_CAP]
    head = head[: head.rfind(b"\n") + 1] if shape == "many" else head[: head.rfind(b",")] + b"\n"
    work = CountingParsers(monkeypatch)
    headers = read_headers(head + b"\n")
    assert len(headers.addresses()) == head.count(b"@")
    assert headers.skipped == ()  # long is not malformed
    assert work.strict_chars <= addresses.STRICT_BUDGET
    assert work.strict_calls <= addresses.STRICT_BUDGET // len(b"c0@acme.com")
    assert work.scan_calls == 1 and work.scan_chars <= len(head)


def test_long_subject_is_cut_between_encoded_words() -> None:
    subject = b"=?utf-8?q?caf=C3=A9?= " * 2000
    headers = read_headers(b"From: a@acme.com\nSubject: " + subject + b"\n\n")
    assert headers.subject is not None and set(headers.subject) == set("café")
    assert any(note.startswith("subject:") for note in headers.skipped)


# --- parsing details -----------------------------------------------------------------------------


def test_block_with_only_an_mbox_from_line_is_not_a_mail() -> None:
    with pytest.raises(NotAMail):
        read_headers(b"From someone@example.org Tue Mar  5 10:00:00 2024\n\nbody\n")


@pytest.mark.parametrize("junk", [b"", b"   \n", b"\x00\x01\x02", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n"])
def test_not_a_mail(junk: bytes) -> None:
    with pytest.raises(NotAMail) as info:
        read_headers(junk)
    assert isinstance(info.value, VaultmailError) and info.value.reason == "NotAMail"


def test_too_many_junk_lines_gives_up_but_keeps_what_it_has() -> None:
    mail = b"From: a@acme.com\n" + b"junk\n" * 50 + b"To: lost@acme.com\n\n"
    headers = read_headers(mail)
    assert headers.addresses() == ["a@acme.com"]
    assert "more than" in headers.skipped[-1]


def test_continuation_after_a_junk_line_is_skipped_and_reported() -> None:
    headers = read_headers(b"From: a@acme.com\njunk\n continued junk\nTo: b@acme.com\n\n")
    assert headers.addresses() == ["a@acme.com", "b@acme.com"]
    assert headers.skipped == ("header block: skipped 'junk': not a header line",)


def test_lone_cr_line_ending_does_not_hide_later_headers() -> None:
    # The stdlib splits lines on a lone CR too; a CR-only "line" ends its header section.
    headers = read_headers(b"From: a@acme.com\r\r\nTo: b@acme.com\n\n")
    assert headers.addresses() == ["a@acme.com", "b@acme.com"]


def test_str_with_lone_surrogates_does_not_crash() -> None:
    headers = read_headers("From: a@acme.com\nSubject: half \ud83d emoji\n\n")
    assert headers.from_[0].addr == "a@acme.com"
    assert headers.subject == "half ? emoji"


def test_str_input_is_never_taken_for_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mail.eml"
    path.write_bytes(b"From: a@acme.com\n\n")
    with pytest.raises(NotAMail):
        read_headers(str(path))  # a str is the mail text, and this text is no mail


def test_a_str_mail_is_not_encoded_whole() -> None:
    huge = "From: a@acme.com\n\n" + "x" * (20 * HEADER_CAP)
    block, truncated = read_header_block(huge)
    assert block == b"From: a@acme.com\n" and not truncated


def test_parse_header_block_directly() -> None:
    headers = parse_header_block(b"From: a@acme.com\r\nMessage-ID:  <id@acme.com> \r\n")
    assert headers.message_id == "<id@acme.com>"
    assert headers.header_bytes == len(b"From: a@acme.com\r\nMessage-ID:  <id@acme.com> \r\n")
    assert headers.as_dict()["headerBytes"] == headers.header_bytes
    with pytest.raises(NotAMail):
        parse_header_block(b"  \r\n")


def test_truncated_flag_is_reported() -> None:
    headers = parse_header_block(b"From: a@acme.com\n", truncated=True)
    assert headers.truncated and "size cap" in headers.skipped[0]


def test_as_dict_and_helpers() -> None:
    headers = read_headers(
        b"From: F <f@acme.com>\nTo: t@acme.com\nCc: c@acme.com\nBcc: b@acme.com\n"
        b"Reply-To: r@acme.com\nSender: s@acme.com\nDate: Tue, 5 Mar 2024 10:00:00 +0000\n\n"
    )
    assert headers.as_dict() == {
        "from": ["f@acme.com"],
        "to": ["t@acme.com"],
        "cc": ["c@acme.com"],
        "bcc": ["b@acme.com"],
        "replyTo": ["r@acme.com"],
        "subject": None,
        "messageId": None,
        "date": "Tue, 05 Mar 2024 10:00:00 +0000",  # the stdlib re-formats dates
        "headerBytes": headers.header_bytes,
    }
    assert [m.addr for m in headers.recipients] == ["t@acme.com", "c@acme.com", "b@acme.com"]
    assert headers.addresses("reply_to", "sender") == ["r@acme.com", "s@acme.com"]
    assert headers.from_[0].domain == "acme.com"
    json.dumps(headers.as_dict())


def test_undecodable_display_name_is_json_safe() -> None:
    headers = read_headers(b"From: =?x-unknown?Q?J=F6rg?= <j@acme.com>\n\n")
    assert headers.from_[0].name == "J\ufffdrg"
    json.dumps([m.name for m in headers.from_]).encode("utf-8")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("a@acme.com", "a@acme.com"),
        ("  <Amit@ACME.COM>  ", "Amit@acme.com"),
        ("a@acme.com.", "a@acme.com"),
        ('"john doe"@acme.com', '"john doe"@acme.com'),
        ("root@localhost", "root@localhost"),
        ("x@[192.0.2.1]", "x@[192.0.2.1]"),
        ("jörg@BÜCHER.de", "jörg@bücher.de"),
        ("", None),
        ("acme.com", None),
        ("@acme.com", None),
        ("a@", None),
        ("a b@acme.com", None),
        ("Amit <amit@acme.com>", None),
        ("a@acme..com", None),
        ("a@ac me.com", None),
        ("a;b@acme.com", None),
    ],
)
def test_normalize_address(raw: str, normal: str | None) -> None:
    assert normalize_address(raw) == normal


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        ("bücher.de", "xn--bcher-kva.de", True),
        ("BÜCHER.DE", "XN--BCHER-KVA.DE.", True),
        ("acme.com", "ACME.COM", True),
        ("straße.de", "xn--strae-oqa.de", True),
        ("straße.de", "strasse.de", False),  # IDNA 2003 would say True
        ("ａｃｍｅ.com", "acme.com", False),  # full-width letters are not ASCII letters
        ("xn--acme-.com", "acme.com", False),  # an A-label that decodes to ASCII is no alias
        ("sub.acme.com", "acme.com", False),
        ("bu\u0308cher.de", "bücher.de", True),  # NFD and NFC spellings
        ("bücher。de", "bücher.de", True),  # ideographic full stop
    ],
)
def test_domain_key(one: str, other: str, same: bool) -> None:
    assert (domain_key(one) == domain_key(other)) is same
    assert domain_key(one).isascii()


def test_domain_key_survives_garbage() -> None:
    for junk in ("xn--", "xn--!!!.com", "..", "", "a" * 300 + ".com"):
        assert isinstance(domain_key(junk), str)


# --- issue 10: poison, obsolete syntax, display names ---------------------------------------------


def test_the_issue_poison_mail_gives_the_right_answer() -> None:
    headers = read_headers(b"From: a@x.test\nTo: " + b"g:" * 1000 + b"\n\n")
    assert headers.as_dict()["from"] == ["a@x.test"] and headers.to == ()
    assert select_vaults(headers, ["x.test"]).vaults == ("a@x.test",)


@pytest.mark.parametrize("depth", [1000, 20_000])
@pytest.mark.parametrize(
    "unit", ["g:", "(", ")", "<", ">", '"', "\\", "[", ":;", "(a)", "<a@x.test>", "=?utf-8?q?", ",,"]
)
def test_nesting_and_repetition_never_recurse(unit: str, depth: int) -> None:
    for field in ("From", "To", "Message-ID", "Date", "Subject"):
        block = f"From: a@x.test\n{field}: {unit * depth}\n".encode()
        headers = read_headers(block)
        assert headers.from_[0].addr == "a@x.test"


def test_each_repair_is_listed_in_skipped() -> None:
    headers = read_headers(
        b"From: ceo@acme.test <x@evil.test>\n"
        b"To: smith@gmail.com, Mikel@Lindsaar <raasdnil@gmail.com>, tom@gmail.com\n"
        b"Cc: Bob <bob@x.test> Bobby <bobby@x.test>\n"
        b"Bcc: one@x.test; two@x.test\n\n"
    )
    assert headers.addresses() == [
        "x@evil.test", "smith@gmail.com", "raasdnil@gmail.com", "tom@gmail.com",
        "bob@x.test", "bobby@x.test", "one@x.test", "two@x.test",
    ]
    notes = "\n".join(headers.skipped)
    assert "from: repaired display name 'ceo@acme.test' is not an address" in notes
    assert "to: repaired display name 'Mikel@Lindsaar' is not an address" in notes
    assert "cc: repaired a missing comma between mailboxes" in notes
    assert "bcc: repaired ';' used as a separator between addresses" in notes


def test_a_phishing_display_name_files_no_mail_in_the_ceos_vault() -> None:
    headers = read_headers(b"From: ceo@acme.test <x@evil.test>\nTo: list@example.org\n\n")
    with pytest.raises(NoPrimaryDomainRecipient):
        select_vaults(headers, ["acme.test"])


@pytest.mark.parametrize(
    ("block", "to"),
    [
        (b"From: a@x.test\nTo : b@example.net\n\n", ["b@example.net"]),
        (b"From: a@x.test\nTo\t\t: b@example.net\n\n", ["b@example.net"]),
        (b"From: a@x.test\nTO  :b@example.net\n\n", ["b@example.net"]),
        (b"From  : a@x.test\nTo: b@example.net\n\n", ["b@example.net"]),
        (b"From a@x.test Tue Mar  5 10:00:00 2024\nTo: b@example.net\n\n", ["b@example.net"]),
    ],
)
def test_white_space_before_the_colon_is_the_field(block: bytes, to: list[str]) -> None:
    headers = read_headers(block)
    assert [m.addr for m in headers.to] == to
    assert headers.skipped == ()


def test_an_mbox_from_line_is_only_the_first_line() -> None:
    headers = read_headers(b"From: a@x.test\nFrom b@x.test Tue Mar  5 10:00:00 2024\nTo: c@x.test\n\n")
    assert headers.addresses() == ["a@x.test", "c@x.test"]
    assert headers.skipped == (
        "header block: skipped 'From b@x.test Tue Mar 5 10:00:00 2024': "
        "an mbox 'From ' line inside the header block",
    )


def test_an_unexpected_failure_is_a_documented_error_for_that_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the reader (simulated) must not escape as an unexpected error: one mail's
    permanent NotAMail (exit 3, reason UnreadableHeaders), never a Lambda retry loop."""

    def broken(*args: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(addresses, "scan_addresses", broken)
    monkeypatch.setattr(addresses, "STRICT_BUDGET", 0)
    with pytest.raises(NotAMail) as info:
        read_headers(b"From: a@x.test\n\n")
    assert info.value.reason == "UnreadableHeaders" and info.value.exit_code == 3
    assert not info.value.transient
    assert "RecursionError" in info.value.message


def test_encoded_display_names_past_the_budget_stay_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses, "STRICT_BUDGET", 0)
    monkeypatch.setattr(addresses, "DECODED_NAMES", 2)
    to = ", ".join(f"=?utf-8?q?J=C3=B6rg_{i}?= <j{i}@acme.com>" for i in range(4))
    headers = read_headers(f"From: a@acme.com\nTo: {to}\n\n".encode())
    assert [m.addr for m in headers.to] == [f"j{i}@acme.com" for i in range(4)]  # every address
    raw = ["=?utf-8?q?J=C3=B6rg_2?=", "=?utf-8?q?J=C3=B6rg_3?="]
    assert [m.name for m in headers.to] == ["Jörg 0", "Jörg 1", *raw]
    assert headers.skipped == ("to: more than 2 encoded display names: the rest kept as written",)


def test_notes_are_bounded_per_field() -> None:
    """A 1 MiB list of junk gives a bounded ``skipped``: the first notes, then a count."""
    headers = read_headers(b"From: a@acme.com\nTo: " + b"x, " * 50_000 + b"\n\n")
    notes = [s for s in headers.skipped if s.startswith("to:")]
    assert len(notes) == addresses.MAX_NOTES + 1
    assert notes[-1] == f"to: {50_000 - addresses.MAX_NOTES} more repairs and skipped values not listed"


def test_leading_continuation_lines_are_one_note() -> None:
    headers = read_headers(b" x\n" * 10_000 + b"From: a@acme.com\n\n")
    assert headers.addresses() == ["a@acme.com"]
    assert len(headers.skipped) == 1 and "(10000 lines)" in headers.skipped[0]
