"""Who one oversize mail's notice would go to, and the notice itself (pure: no I/O, no clock).

:func:`audience` answers whether a mail can be notified at all: nobody SES can send to
(``no-recipients``), more recipients than ``MAX_NOTICE_RECIPIENTS`` (``over-cap``: whoever
writes a mail picks its recipients, so such a mail is never notified; the admin hears of
it), or the recipients to tell. :func:`compose` builds the :class:`~vaultmail.notices.Notice`
around a link made by :func:`~.links.sign_link`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ..headers import MailHeaders
from ..notices import (
    Dropped,
    Notice,
    Recipient,
    compose_notice,
    one_line,
    recipients_of,
    safe_filename,
    show_mailbox,
)
from ..settings import Settings
from .plan import Listed
from .stats import MailOutcome


@dataclass(frozen=True)
class Audience:
    """The recipients of a mail's notice, or why there is none."""

    verdict: Literal["send", "no-recipients", "over-cap"]
    recipients: tuple[Recipient, ...]
    dropped: tuple[Dropped, ...]
    cap: int


def audience(headers: MailHeaders, settings: Settings) -> Audience:
    recipients, dropped = recipients_of(headers, settings.allowed_recipient_domains)
    cap = settings.max_notice_recipients
    if not recipients:
        return Audience("no-recipients", recipients, dropped, cap)
    if len(recipients) > cap:
        return Audience("over-cap", recipients, dropped, cap)
    return Audience("send", recipients, dropped, cap)


def describe(obj: Listed, headers: MailHeaders, read: int, who: Audience) -> MailOutcome:
    """The report's row of a mail whose header block was read (status filled in later)."""
    row = MailOutcome(
        key=obj.key,
        size=obj.size,
        status="",
        subject=one_line(headers.subject, 300) or None,
        sender=", ".join(show_mailbox(b) for b in headers.from_) or None,
        date=one_line(headers.date, 100) or None,
        header_bytes_read=read,
        recipients=tuple(r.addr for r in who.recipients),
        dropped=tuple(f"{d.addr} ({d.why})" for d in who.dropped),
    )
    if who.verdict == "no-recipients":
        row.status = "no-recipients"
        left_out = f" ({len(who.dropped)} left out)" if who.dropped else ""
        row.warning = "no recipient to notify" + left_out
    elif who.verdict == "over-cap":
        row.status = "over-cap"
        row.recipients = ()  # never listed: the report says how many
        row.warning = (
            f"{len(who.recipients)} recipients, over MAX_NOTICE_RECIPIENTS ({who.cap}): not notified"
        )
    return row


@dataclass(frozen=True)
class MadeLink:
    """A notice's link, as :class:`~.links.LinkMaker` made it."""

    url: str
    expires_at: float  # epoch seconds: the date the notice states


@dataclass(frozen=True)
class Draft:
    """What a notice's link is made for (what :class:`~.links.LinkMaker` is given)."""

    bucket: str
    key: str
    version_id: str | None
    etag: str
    filename: str
    expiry: int
    recipients: tuple[str, ...]


def draft(
    obj: Listed, bucket: str, headers: MailHeaders, settings: Settings, who: Audience, told: frozenset[str]
) -> Draft:
    """The link's facts; its recipients are those this notice goes to (not told before)."""
    before = {a.lower() for a in told}
    return Draft(
        bucket=bucket,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.etag.strip('"'),
        filename=safe_filename(headers.subject, obj.key),
        expiry=settings.link_expiry_seconds,
        recipients=tuple(r.addr for r in who.recipients if r.addr.lower() not in before),
    )


def compose(
    obj: Listed,
    headers: MailHeaders,
    settings: Settings,
    *,
    link: MadeLink,
    draft: Draft,
    already_sent: frozenset[str],
    apart: frozenset[str],
) -> Notice:
    assert settings.notify_from
    return compose_notice(
        headers,
        notify_from=settings.notify_from,
        link=link.url,
        expires_at=datetime.fromtimestamp(link.expires_at, UTC),
        size=obj.size,
        threshold=settings.size_threshold_bytes,
        filename=draft.filename,
        allowed_domains=settings.allowed_recipient_domains,
        already_sent=already_sent,
        apart=apart,
    )
