"""The pages a person sees when a link does not lead to the mail (pure): short, plain, escaped.

Each says what happened and whom to ask: the notices' sender (NOTIFY_FROM, kept in the link
item) when the link is known, else whoever sent the notice. No script, no style sheet, no
image: the answer carries a Content-Security-Policy of ``default-src 'none'``.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

from .resolve import Decision

# Headers of every answer (no cache: a link's state changes; no referrer: the URL is the secret)
COMMON_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
PAGE_HEADERS = {
    **COMMON_HEADERS,
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}

_TITLES = {
    "unknown": ("Link not found", "This download link is not known. Check that the whole link was copied."),
    "expired": ("Link expired", "This download link has expired{when}."),
    "revoked": ("Link withdrawn", "This download link was withdrawn by the mail administrator."),
    "replaced": ("Message no longer available", "The message this link was made for is no longer stored."),
    "method": ("Method not allowed", "Only GET and HEAD are answered here."),
    "unavailable": ("Try again later", "The download service could not look this link up just now."),
}


def _date(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def page(decision: Decision) -> str:
    """The HTML page for a refused link (``decision.reason`` one of :data:`_TITLES`)."""
    title, text = _TITLES.get(decision.reason, _TITLES["unknown"])
    link = decision.link
    when = f" on {_date(link.expires_at)}" if link is not None else ""
    text = text.format(when=when)
    if link is not None and link.contact:
        ask = f"If you still need the message, ask {link.contact}, or the person who wrote to you."
    else:
        ask = "If you still need the message, ask the sender of the notice that contained the link."
    e = html.escape
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title></head><body>\n"
        f"<h1>{e(title)}</h1>\n<p>{e(text)}</p>\n<p>{e(ask)}</p>\n"
        "</body></html>\n"
    )
