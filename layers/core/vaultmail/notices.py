"""Compose the notices (pure: no I/O, no clock; the stats mail is :mod:`vaultmail.scanner.statsmail`).

A notice tells the intended recipients of an oversize mail where to download it. It is
sent from ``NOTIFY_FROM`` (a verified SES identity, never the original sender), with
Reply-To the original From and Reply-To (a reply reaches the sender), to the original
To, Cc and Bcc (Bcc recipients stay Bcc: nobody sees them), split into sends of at most
50 recipients (the SES limit per message). Everything taken from the original mail is
made safe: header values become one line of printable text (a crafted Subject with CR/LF
cannot add headers), HTML is escaped, addresses are checked against what SES accepts.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from .headers import Mailbox, MailHeaders, domain_key

MAX_RECIPIENTS = 50  # SES: recipients (To + Cc + Bcc) per message
SUBJECT_MAX = 180
FILENAME_MAX = 80
NOTICE_HEADERS = (("Auto-Submitted", "auto-generated"),)  # RFC 3834: no auto-replies to notices

Kind = Literal["to", "cc", "bcc"]

_LOCAL_OK = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_DOMAIN_OK = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
# Bidirectional overrides and isolates: they can disguise a file name or a subject.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}


# -- text safety -------------------------------------------------------------------------


def one_line(value: str | None, limit: int = SUBJECT_MAX) -> str:
    """Header-safe text: one line, no control or bidi characters, collapsed spaces, bounded."""
    if not value:
        return ""
    out = []
    for ch in value:
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            out.append(" ")
        else:
            out.append(ch)
    text = " ".join("".join(out).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def safe_filename(subject: str | None, key: str) -> str:
    """An ASCII file name for Content-Disposition: from the subject, else the key's last part.

    Only letters, digits, space and ``._-()`` survive; always ends in ``.eml``.
    """

    def clean(text: str) -> str:
        ascii_text = unicodedata.normalize("NFKD", one_line(text, 1000)).encode("ascii", "ignore").decode()
        kept = re.sub(r"[^A-Za-z0-9 ._()-]+", "_", ascii_text)
        kept = re.sub(r"_{2,}", "_", re.sub(r"\s+", " ", kept))
        return kept.strip(" ._-")[:FILENAME_MAX].rstrip(" ._-")

    base = clean(subject or "")
    if not base:
        last = key.rsplit("/", 1)[-1]
        if last.lower().endswith(".eml"):
            last = last[:-4]
        base = clean(last)
    return f"{base or 'mail'}.eml"


def content_disposition(filename: str) -> str:
    return f'attachment; filename="{filename}"'


def ses_address(addr: str) -> str | None:
    """The address as SES accepts it (ASCII local part, IDNA domain), or None."""
    local, at, domain = addr.strip().rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL_OK.match(local):
        return None
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    domain = domain_key(domain)
    if not _DOMAIN_OK.match(domain):
        return None
    return f"{local}@{domain}"


def allowed(addr: str, domains: Sequence[str]) -> bool:
    """True when ``domains`` is empty or the address's domain is one of them or under one."""
    if not domains:
        return True
    domain = domain_key(addr.rpartition("@")[2])
    for allowed_domain in domains:
        d = domain_key(allowed_domain)
        if domain == d or domain.endswith("." + d):
            return True
    return False


def human_size(size: int) -> str:
    """``12582912`` -> ``12.0 MB`` (MB of 1,048,576 bytes, as the SES limit is stated)."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f} KB"
    return f"{size} bytes"


def show_mailbox(box: Mailbox) -> str:
    name = one_line(box.name, 100)
    addr = one_line(box.addr, 254)
    return f"{name} <{addr}>" if name and name != addr else addr


# -- recipients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    addr: str
    kind: Kind


@dataclass(frozen=True)
class Dropped:
    addr: str
    why: str


def recipients_of(
    headers: MailHeaders, allowed_domains: Sequence[str] = (), exclude: Iterable[str] = ()
) -> tuple[tuple[Recipient, ...], tuple[Dropped, ...]]:
    """The notice's recipients in To, Cc, Bcc order, each once (the most visible kind wins).

    Addresses SES cannot take, outside ``allowed_domains``, or in ``exclude`` (already told
    by an earlier, partial run) are left out; the first two are reported as dropped.
    """
    skip = {a.lower() for a in exclude}
    seen: set[str] = set()
    kept: list[Recipient] = []
    dropped: list[Dropped] = []
    boxes: list[tuple[Kind, Mailbox]] = [
        *(("to", m) for m in headers.to),
        *(("cc", m) for m in headers.cc),
        *(("bcc", m) for m in headers.bcc),
    ]
    for kind, box in boxes:
        addr = ses_address(box.addr)
        if addr is None:
            dropped.append(Dropped(one_line(box.addr, 254), "not an address SES can send to"))
            continue
        if addr.lower() in seen:
            continue
        seen.add(addr.lower())
        if not allowed(addr, allowed_domains):
            dropped.append(Dropped(addr, "outside ALLOWED_RECIPIENT_DOMAINS"))
            continue
        if addr.lower() in skip:
            continue
        kept.append(Recipient(addr, kind))
    return tuple(kept), tuple(dropped)


def reply_to_of(headers: MailHeaders) -> tuple[str, ...]:
    """Reply-To of the notice: the original From, then the original Reply-To (each once)."""
    out: list[str] = []
    for box in (*headers.from_, *headers.reply_to):
        addr = ses_address(box.addr)
        if addr and addr.lower() not in {a.lower() for a in out}:
            out.append(addr)
    return tuple(out[:MAX_RECIPIENTS])


@dataclass(frozen=True)
class Batch:
    """The recipients of one SES send."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc


def split(recipients: Sequence[Recipient], limit: int = MAX_RECIPIENTS) -> tuple[Batch, ...]:
    """Consecutive groups of at most ``limit`` recipients, each keeping its To/Cc/Bcc kind."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    batches = []
    for start in range(0, len(recipients), limit):
        group = recipients[start : start + limit]
        batches.append(
            Batch(
                to=tuple(r.addr for r in group if r.kind == "to"),
                cc=tuple(r.addr for r in group if r.kind == "cc"),
                bcc=tuple(r.addr for r in group if r.kind == "bcc"),
            )
        )
    return tuple(batches)


# -- the notice ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Email:
    """One SES send: what :func:`vaultmail.ses.send_email` needs."""

    from_addr: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    text: str
    html: str
    headers: tuple[tuple[str, str], ...] = NOTICE_HEADERS

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc + self.bcc


def halves(email: Email) -> tuple[Email, ...]:
    """``email`` as two sends of half its recipients each (To/Cc/Bcc kinds kept), in order.

    SES refuses a whole message for one address it will not take: sending the halves
    apart finds the others a way through. An email of one recipient is returned as it is.
    """
    group = [
        *(Recipient(a, "to") for a in email.to),
        *(Recipient(a, "cc") for a in email.cc),
        *(Recipient(a, "bcc") for a in email.bcc),
    ]
    if len(group) < 2:
        return (email,)
    half = (len(group) + 1) // 2
    return tuple(replace(email, to=b.to, cc=b.cc, bcc=b.bcc) for b in split(group, half))


@dataclass(frozen=True)
class Notice:
    """The notice of one oversize mail: one :class:`Email` per group of 50 recipients.

    ``alone``: one :class:`Email` per recipient set apart (SES rejected a send to each of them
    alone before): they are not in ``emails``, so they cannot hold back the others.
    ``recipients`` lists everyone left to tell, set apart or not.
    """

    emails: tuple[Email, ...]
    recipients: tuple[Recipient, ...]
    dropped: tuple[Dropped, ...] = field(default=())
    subject: str = ""
    alone: tuple[Email, ...] = field(default=())

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(r.addr for r in self.recipients)


def notice_subject(headers: MailHeaders) -> str:
    original = one_line(headers.subject, SUBJECT_MAX - 40)
    if original:
        return f"Too large to deliver: {original}"
    sender = one_line(headers.from_[0].addr, 100) if headers.from_ else ""
    return f"Too large to deliver: a message from {sender}" if sender else "Too large to deliver: a message"


def compose_notice(
    headers: MailHeaders,
    *,
    notify_from: str,
    link: str,
    expires_at: datetime,
    size: int,
    threshold: int,
    filename: str,
    allowed_domains: Sequence[str] = (),
    already_sent: Iterable[str] = (),
    apart: Iterable[str] = (),
    limit: int = MAX_RECIPIENTS,
) -> Notice:
    """The notice for one oversize mail (no emails at all if nobody is left to tell).

    ``apart``: recipients sent to one by one in :attr:`Notice.alone` (after the others),
    never in a group with anyone else.
    """
    recipients, dropped = recipients_of(headers, allowed_domains, exclude=already_sent)
    set_apart = {a.lower() for a in apart}
    subject = notice_subject(headers)
    facts = _facts(headers, size)
    expiry = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    limit_text = human_size(threshold)
    text = _text_body(facts, link=link, expiry=expiry, size=size, limit_text=limit_text, filename=filename)
    body_html = _html_body(
        facts, link=link, expiry=expiry, size=size, limit_text=limit_text, filename=filename
    )
    template = Email(
        from_addr=notify_from,
        to=(),
        cc=(),
        bcc=(),
        reply_to=reply_to_of(headers),
        subject=subject,
        text=text,
        html=body_html,
    )
    grouped = [r for r in recipients if r.addr.lower() not in set_apart]
    aside = [r for r in recipients if r.addr.lower() in set_apart]
    emails = tuple(replace(template, to=b.to, cc=b.cc, bcc=b.bcc) for b in split(grouped, limit))
    alone = tuple(replace(template, to=b.to, cc=b.cc, bcc=b.bcc) for b in split(aside, 1))
    return Notice(emails=emails, recipients=recipients, dropped=dropped, subject=subject, alone=alone)


def _facts(headers: MailHeaders, size: int) -> list[tuple[str, str]]:
    facts = []
    if headers.from_:
        facts.append(("From", ", ".join(show_mailbox(b) for b in headers.from_[:3])))
    facts.append(("Subject", one_line(headers.subject, 300) or "(no subject)"))
    if headers.date:
        facts.append(("Date", one_line(headers.date, 100)))
    facts.append(("Size", f"{human_size(size)} ({size:,} bytes)"))
    return facts


def _text_body(
    facts: list[tuple[str, str]], *, link: str, expiry: str, size: int, limit_text: str, filename: str
) -> str:
    lines = [
        "Hello,",
        "",
        f"A message addressed to you was too large to be delivered by email ({human_size(size)};",
        f"the mail system's limit is {limit_text}). It has been kept, and you can download it here:",
        "",
        link,
        "",
        f"The link works until {expiry} at the latest.",
        "",
    ]
    width = max(len(name) for name, _ in facts) + 1
    lines += [f"  {name + ':':<{width}} {value}" for name, value in facts]
    lines += [
        "",
        f"The download is the original message ({filename}). Open it with your mail program",
        "(Outlook, Apple Mail, Thunderbird, ...) to read it and its attachments.",
        "Replying to this notice writes to the sender of the original message.",
        "",
        "This notice was sent automatically.",
        "",
    ]
    return "\n".join(lines)


def _html_body(
    facts: list[tuple[str, str]], *, link: str, expiry: str, size: int, limit_text: str, filename: str
) -> str:
    e = html.escape
    rows = "\n".join(
        f'<tr><th align="left" style="padding-right:1em">{e(name)}</th><td>{e(value)}</td></tr>'
        for name, value in facts
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
        "<p>Hello,</p>\n"
        f"<p>A message addressed to you was too large to be delivered by email ({e(human_size(size))}; "
        f"the mail system's limit is {e(limit_text)}). It has been kept, and you can download it:</p>\n"
        f'<p><a href="{e(link, quote=True)}">Download the message ({e(filename)})</a></p>\n'
        f"<p>The link works until {e(expiry)} at the latest.</p>\n"
        f"<table>\n{rows}\n</table>\n"
        "<p>Open the downloaded file with your mail program (Outlook, Apple Mail, Thunderbird, ...) "
        "to read it and its attachments. Replying to this notice writes to the sender of the original "
        "message.</p>\n"
        "<p><small>This notice was sent automatically.</small></p>\n"
        "</body></html>\n"
    )


__all__ = [
    "MAX_RECIPIENTS",
    "Batch",
    "Dropped",
    "Email",
    "Notice",
    "Recipient",
    "allowed",
    "compose_notice",
    "content_disposition",
    "halves",
    "human_size",
    "one_line",
    "recipients_of",
    "reply_to_of",
    "safe_filename",
    "ses_address",
    "split",
]
