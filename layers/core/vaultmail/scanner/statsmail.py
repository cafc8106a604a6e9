"""The administrator's stats mail of a run (pure: no I/O, no clock)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime

from ..notices import MAX_RECIPIENTS, SUBJECT_MAX, Email, one_line, ses_address

STATS_LABELS = (  # keys of ScanStats.as_dict()
    ("scanned", "objects listed"),
    ("oversize", "oversize mails"),
    ("notified", "notified in this run"),
    ("alreadyNotified", "already notified before"),
    ("settled", "nobody to notify, found before (not read again)"),
    ("inProgress", "being notified by another run"),
    ("failed", "notices failed (retried next run, unless given up)"),
    ("gaveUp", "of which given up (SES kept rejecting recipients)"),
    ("deferred", "left for the next run"),
    ("noRecipients", "no recipient to notify"),
    ("unreadable", "not readable as a mail"),
    ("cold", "in an archive storage class (not read)"),
    ("seenBefore", "decided by an earlier sweep (not looked up)"),
    ("overCap", "over MAX_NOTICE_RECIPIENTS (not notified)"),
    ("noticesSent", "SES messages sent"),
    ("recipientsNotified", "recipients notified"),
    ("oversizeBytes", "bytes of oversize mail"),
    ("bytesRead", "bytes read to find headers"),
)


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else one_line(str(value), 40)


def compose_stats(
    stats: Mapping[str, object],
    *,
    notify_from: str,
    admin_email: str,
    where: str,
    started: datetime,
    complete: bool = True,
    problems: Sequence[str] = (),
    halted: str | None = None,
    over_cap: Sequence[tuple[str, int]] = (),
    cap: int = 0,
) -> Email:
    """The administrator's summary of one run (``stats`` as :meth:`ScanStats.as_dict`).

    ``halted``: why the run stopped early on an error (else an incomplete run met the deadline).
    ``over_cap``: the mails not notified for naming more than ``cap`` recipients (key, count).
    """
    when = started.strftime("%Y-%m-%d %H:%M UTC")
    subject = one_line(
        f"[vaultmail] oversize scan {where}: {stats.get('notified', 0)} notified, "
        f"{stats.get('failed', 0)} failed",
        SUBJECT_MAX,
    )
    rows = [(label, _number(stats.get(name, 0))) for name, label in STATS_LABELS]
    opening = (
        f"vaultmail oversize scan of {one_line(where, 300)}, started {when} ({_status(complete, halted)})."
    )
    sections = [
        ("Problems:", [one_line(p, 300) for p in problems[:SHOWN]]),
        (
            f"Not notified, over MAX_NOTICE_RECIPIENTS ({cap}):",
            [f"{one_line(key, 300)} ({count:,} recipients)" for key, count in over_cap[:SHOWN]]
            + ([f"... and {len(over_cap) - SHOWN} more"] if len(over_cap) > SHOWN else []),
        ),
    ]
    admins = tuple(a for a in (ses_address(x) for x in admin_email.split(",")) if a)
    return Email(
        from_addr=notify_from,
        to=admins[:MAX_RECIPIENTS],
        cc=(),
        bcc=(),
        reply_to=(),
        subject=subject,
        text=_text(opening, rows, sections),
        html=_html(opening, rows, sections),
    )


SHOWN = 20  # lines of each section


def _status(complete: bool, halted: str | None) -> str:
    if complete:
        return "complete"
    if halted:
        return f"stopped early: {one_line(halted, 200)}; the next run resumes"
    return "stopped before the deadline; the next run resumes"


Sections = Sequence[tuple[str, Sequence[str]]]


def _text(opening: str, rows: Sequence[tuple[str, str]], sections: Sections) -> str:
    width = max(len(label) for label, _ in rows) + 1
    lines = [opening, ""] + [f"  {label + ':':<{width}} {value:>12}" for label, value in rows]
    for title, items in sections:
        if items:
            lines += ["", title] + [f"  - {item}" for item in items]
    lines.append("")
    return "\n".join(lines)


def _html(opening: str, rows: Sequence[tuple[str, str]], sections: Sections) -> str:
    e = html.escape
    html_rows = "\n".join(
        f'<tr><td>{e(label)}</td><td align="right">{e(value)}</td></tr>' for label, value in rows
    )
    lists = "".join(
        f"<p>{e(title)}</p>\n<ul>\n" + "\n".join(f"<li>{e(item)}</li>" for item in items) + "\n</ul>\n"
        for title, items in sections
        if items
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>\n'
        f"<p>{e(opening)}</p>\n"
        f"<table>\n{html_rows}\n</table>\n{lists}</body></html>\n"
    )
