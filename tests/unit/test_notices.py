"""Composing notices and the stats mail: recipients, splitting, injection, escaping, file names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from vaultmail.headers import MailHeaders, parse_header_block
from vaultmail.notices import (
    MAX_RECIPIENTS,
    Notice,
    Recipient,
    allowed,
    compose_notice,
    content_disposition,
    halves,
    human_size,
    one_line,
    recipients_of,
    reply_to_of,
    safe_filename,
    ses_address,
    split,
)
from vaultmail.scanner.statsmail import compose_stats

EXPIRES = datetime(2030, 1, 8, 12, 0, tzinfo=UTC)
LINK = "https://mail-bucket.s3.amazonaws.com/k.eml?X-Amz-Signature=abc&X-Amz-Expires=604800"


def headers(text: str) -> MailHeaders:
    return parse_header_block(text.replace("\n", "\r\n").encode("utf-8") + b"\r\n")


def notice(text: str, **kwargs: Any) -> Notice:
    options: dict[str, Any] = dict(
        notify_from="Notices <notices@acme.com>",
        link=LINK,
        expires_at=EXPIRES,
        size=12 * 1024 * 1024,
        threshold=10 * 1024 * 1024,
        filename="mail.eml",
    )
    options.update(kwargs)
    return compose_notice(headers(text), **options)


BASIC = """From: Alice Sender <alice@sender.example>
To: Bob <bob@acme.com>, carol@acme.com
Cc: Dave <dave@partner.example>
Bcc: eve@acme.com
Reply-To: replies@sender.example
Subject: Quarterly figures
Date: Tue, 07 Jan 2025 10:00:00 +0000
Message-ID: <q1@sender.example>"""


def test_notice_from_reply_to_and_kinds() -> None:
    n = notice(BASIC)
    assert len(n.emails) == 1
    e = n.emails[0]
    assert e.from_addr == "Notices <notices@acme.com>"
    assert e.to == ("bob@acme.com", "carol@acme.com")
    assert e.cc == ("dave@partner.example",)
    assert e.bcc == ("eve@acme.com",)  # Bcc stays Bcc: hidden from the others
    assert e.reply_to == ("alice@sender.example", "replies@sender.example")
    assert e.subject == "Too large to deliver: Quarterly figures"
    assert ("Auto-Submitted", "auto-generated") in e.headers


def test_notice_shows_the_facts_in_text_and_html() -> None:
    e = notice(BASIC).emails[0]
    for body in (e.text, e.html):
        assert "Quarterly figures" in body
        assert "Tue, 07 Jan 2025 10:00:00 +0000" in body
        assert "12.0 MB" in body
        assert "12,582,912 bytes" in body
        assert "10.0 MB" in body  # the limit
        assert "2030-01-08 12:00 UTC" in body
    assert LINK in e.text
    assert "Alice Sender <alice@sender.example>" in e.text
    assert "Alice Sender &lt;alice@sender.example&gt;" in e.html
    assert (
        'href="https://mail-bucket.s3.amazonaws.com/k.eml?X-Amz-Signature=abc&amp;X-Amz-Expires=604800"'
        in e.html
    )


def test_never_sent_as_the_original_sender() -> None:
    e = notice(BASIC).emails[0]
    assert "alice@sender.example" not in e.from_addr


def test_crafted_subject_cannot_inject_headers_or_html() -> None:
    crafted = (
        "From: mallory@evil.example\nTo: bob@acme.com\n"
        "Subject: =?utf-8?q?Hi=0D=0ABcc:_victim@evil.example=0D=0A=0D=0Abody?= "
        '<script>alert(1)</script> & "quotes"\u2028more\u202etxt.exe'
    )
    e = notice(crafted).emails[0]
    assert "\r" not in e.subject and "\n" not in e.subject
    assert "\u2028" not in e.subject and "\u202e" not in e.subject
    assert e.subject.startswith("Too large to deliver: Hi Bcc: victim@evil.example body")
    assert e.recipients == ("bob@acme.com",)
    assert "<script>" not in e.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in e.html
    assert "victim@evil.example" not in e.bcc + e.cc + e.to


def test_crafted_display_name_is_escaped() -> None:
    e = notice('From: "<img src=x onerror=alert(1)>" <m@evil.example>\nTo: bob@acme.com\nSubject: s').emails[
        0
    ]
    assert "<img" not in e.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in e.html


def test_one_line() -> None:
    assert one_line("a\r\nb\tc\x00d\x85e") == "a b c d e"
    assert one_line(None) == ""
    assert one_line("x" * 500, 10) == "x" * 9 + "…"


def test_more_than_50_recipients_are_split_keeping_kinds() -> None:
    to = ", ".join(f"to{i}@acme.com" for i in range(30))
    cc = ", ".join(f"cc{i}@acme.com" for i in range(40))
    bcc = ", ".join(f"bcc{i}@acme.com" for i in range(50))
    n = notice(f"From: a@sender.example\nTo: {to}\nCc: {cc}\nBcc: {bcc}\nSubject: many")
    assert [len(e.recipients) for e in n.emails] == [50, 50, 20]
    assert all(len(e.recipients) <= MAX_RECIPIENTS for e in n.emails)
    everyone = [a for e in n.emails for a in e.recipients]
    assert len(everyone) == len(set(everyone)) == 120
    assert all(a.startswith("bcc") for e in n.emails for a in e.bcc)
    assert not any(a.startswith("bcc") for e in n.emails for a in e.to + e.cc)
    # every email carries the same content
    assert len({(e.subject, e.text, e.html, e.reply_to) for e in n.emails}) == 1


def test_split_limits() -> None:
    people = [Recipient(f"p{i}@acme.com", "to") for i in range(101)]
    assert [len(b.addresses) for b in split(people)] == [50, 50, 1]
    assert split([]) == ()
    with pytest.raises(ValueError):
        split(people, 0)


def test_halves_of_a_rejected_send_keep_kinds_order_and_everything_else() -> None:
    (email,) = notice(
        "From: a@x.example\nTo: t1@acme.com, t2@acme.com\nCc: c1@acme.com\nBcc: b1@acme.com, b2@acme.com\n"
    ).emails
    first, second = halves(email)
    assert (first.to, first.cc, first.bcc) == (("t1@acme.com", "t2@acme.com"), ("c1@acme.com",), ())
    assert (second.to, second.cc, second.bcc) == ((), (), ("b1@acme.com", "b2@acme.com"))  # Bcc stays Bcc
    assert first.recipients + second.recipients == email.recipients
    for part in (first, second):
        assert (part.subject, part.text, part.html, part.reply_to, part.from_addr, part.headers) == (
            email.subject,
            email.text,
            email.html,
            email.reply_to,
            email.from_addr,
            email.headers,
        )
    (one,) = notice("From: a@x.example\nTo: solo@acme.com\n").emails
    assert halves(one) == (one,)
    (full,) = notice("From: a@x.example\nTo: " + ", ".join(f"u{i}@acme.com" for i in range(50)) + "\n").emails
    assert [len(h.recipients) for h in halves(full)] == [25, 25]
    (odd,) = notice("From: a@x.example\nTo: u1@acme.com, u2@acme.com, u3@acme.com\n").emails
    assert [h.to for h in halves(odd)] == [("u1@acme.com", "u2@acme.com"), ("u3@acme.com",)]


def test_recipients_set_apart_are_sent_to_alone_after_the_others() -> None:
    text = "From: a@x.example\nTo: t1@acme.com, T2@ACME.com\nCc: c1@acme.com\nBcc: b1@acme.com, b2@acme.com\n"
    n = notice(text, apart={"t2@acme.com", "b1@acme.com", "nobody@acme.com"}, already_sent={"c1@acme.com"})
    assert n.addresses == ("t1@acme.com", "T2@acme.com", "b1@acme.com", "b2@acme.com")  # everyone left
    (group,) = n.emails
    assert (group.to, group.cc, group.bcc) == (("t1@acme.com",), (), ("b2@acme.com",))
    assert [(e.to, e.cc, e.bcc) for e in n.alone] == [(("T2@acme.com",), (), ()), ((), (), ("b1@acme.com",))]
    assert {(e.subject, e.text, e.reply_to, e.headers) for e in (*n.emails, *n.alone)} == {
        (group.subject, group.text, group.reply_to, group.headers)
    }
    assert notice(text).alone == ()
    everyone = notice(text, apart={"t1@acme.com", "t2@acme.com", "c1@acme.com", "b1@acme.com", "b2@acme.com"})
    assert everyone.emails == () and len(everyone.alone) == 5


def test_duplicates_keep_the_most_visible_kind() -> None:
    recipients, _ = recipients_of(
        headers("To: Bob@ACME.com\nCc: bob@acme.com\nBcc: bob@acme.com, x@acme.com")
    )
    assert recipients == (Recipient("Bob@acme.com", "to"), Recipient("x@acme.com", "bcc"))


def test_allowed_recipient_domains() -> None:
    n = notice(BASIC, allowed_domains=("acme.com",))
    assert n.addresses == ("bob@acme.com", "carol@acme.com", "eve@acme.com")
    assert [d.addr for d in n.dropped] == ["dave@partner.example"]
    assert allowed("x@eu.acme.com", ("acme.com",))
    assert not allowed("x@notacme.com", ("acme.com",))
    assert allowed("x@bücher.de", ("xn--bcher-kva.de",))
    assert allowed("anyone@anywhere.example", ())


def test_no_parsable_recipient_gives_no_email() -> None:
    n = notice("From: a@sender.example\nTo: undisclosed-recipients:;\nSubject: hidden")
    assert n.emails == () and n.recipients == ()
    n = notice("From: a@sender.example\nSubject: nobody")
    assert n.emails == ()


def test_already_sent_recipients_are_left_out() -> None:
    n = notice(BASIC, already_sent={"BOB@acme.com", "eve@acme.com"})
    assert n.addresses == ("carol@acme.com", "dave@partner.example")


def test_ses_address() -> None:
    assert ses_address("bob@ACME.com") == "bob@acme.com"
    assert ses_address("jörg@acme.com") is None  # SES: 7-bit local parts only
    assert ses_address("bob@bücher.de") == "bob@xn--bcher-kva.de"
    assert ses_address("bob@localhost") is None
    assert ses_address("a b@acme.com") is None
    assert ses_address("bob@acme.com\r\nBcc: x@y.z") is None
    assert ses_address("..a@acme.com") is None


def test_unsendable_recipient_is_dropped_not_fatal() -> None:
    n = notice("From: a@sender.example\nTo: jörg@acme.com, ok@acme.com\nSubject: s")
    assert n.addresses == ("ok@acme.com",)
    assert n.dropped[0].why == "not an address SES can send to"


def test_reply_to_falls_back_to_from_only() -> None:
    assert reply_to_of(headers("From: a@sender.example\nTo: b@acme.com")) == ("a@sender.example",)
    assert reply_to_of(headers("To: b@acme.com")) == ()


def test_subject_without_original_subject() -> None:
    e = notice("From: a@sender.example\nTo: b@acme.com").emails[0]
    assert e.subject == "Too large to deliver: a message from a@sender.example"
    assert "(no subject)" in e.text


@pytest.mark.parametrize(
    ("subject", "key", "expected"),
    [
        ("Quarterly figures", "mail/1.eml", "Quarterly figures.eml"),
        ('a"b\\c/d\r\ne;f', "k.eml", "a_b_c_d e_f.eml"),
        ("Café – Ünïcode", "k.eml", "Cafe Unicode.eml"),
        ("日本語", "mail/msg.1234.eml", "msg.1234.eml"),
        (None, "mail/2024/abc def.EML", "abc def.eml"),
        ("...", "mail/", "mail.eml"),
        ("x" * 300, "k.eml", "x" * 80 + ".eml"),
        ("\u202eexe.txt", "k.eml", "exe.txt.eml"),
    ],
)
def test_safe_filename(subject: str | None, key: str, expected: str) -> None:
    name = safe_filename(subject, key)
    assert name == expected
    assert '"' not in name and "\\" not in name and "\n" not in name
    assert content_disposition(name) == f'attachment; filename="{expected}"'


def test_human_size() -> None:
    assert human_size(10 * 1024 * 1024) == "10.0 MB"
    assert human_size(2048) == "2.0 KB"
    assert human_size(12) == "12 bytes"


def test_stats_mail() -> None:
    stats = {
        "scanned": 10,
        "oversize": 4,
        "notified": 2,
        "alreadyNotified": 1,
        "failed": 1,
        "noRecipients": 0,
        "oversizeBytes": 50_000_000,
        "bytesRead": 131072,
    }
    e = compose_stats(
        stats,
        notify_from="notices@acme.com",
        admin_email="admin@acme.com, ops@acme.com",
        where="s3://b/mail/",
        started=EXPIRES,
        problems=["k.eml: SesRejected: <b>no</b>\r\nBcc: x@y.z"],
    )
    assert e.to == ("admin@acme.com", "ops@acme.com")
    assert e.from_addr == "notices@acme.com"
    assert e.subject == "[vaultmail] oversize scan s3://b/mail/: 2 notified, 1 failed"
    assert "notified in this run:" in e.text and "50,000,000" in e.text
    assert "&lt;b&gt;no&lt;/b&gt;" in e.html and "<b>no" not in e.html
    assert "\r" not in e.text.replace("\n", "")


def test_stats_mail_of_a_run_halted_by_the_state_table() -> None:
    e = compose_stats(
        {"failed": 3, "gaveUp": 1},
        notify_from="notices@acme.com",
        admin_email="admin@acme.com",
        where="s3://b/mail/",
        started=EXPIRES,
        complete=False,
        halted="state table failed at mail/x.eml: ProvisionedThroughputExceededException",
    )
    assert "stopped early: state table failed at mail/x.eml" in e.text and "next run resumes" in e.text
    assert "before the deadline" not in e.text
    assert "of which given up" in e.text
    late = compose_stats(
        {}, notify_from="n@acme.com", admin_email="a@acme.com", where="w", started=EXPIRES, complete=False
    )
    assert "stopped before the deadline" in late.text
