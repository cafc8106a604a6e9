"""What a run counts and reports (data only): the counters, each oversize mail's outcome.

:class:`ScanStats` feeds the metrics and the stats mail (JSON keys in camelCase);
:class:`MailOutcome` is one row of ``vaultmail scan``; :class:`ScanResult` is the run's
answer. The counters change in one place, :meth:`vaultmail.scanner.tally.Tally.count`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class ScanStats:
    """Counters of one run (also the admin mail and the metrics). JSON keys are camelCase."""

    scanned: int = 0
    oversize: int = 0
    notified: int = 0
    already_notified: int = 0
    settled: int = 0
    in_progress: int = 0
    failed: int = 0
    gave_up: int = 0  # of the failed: given up for good (SES kept rejecting), settled
    deferred: int = 0
    no_recipients: int = 0
    unreadable: int = 0
    cold: int = 0
    seen_before: int = 0  # oversize, older than the watermark of a completed sweep: not looked up
    over_cap: int = 0  # more recipients than MAX_NOTICE_RECIPIENTS: not notified, reported to the admin
    notices_sent: int = 0
    recipients_notified: int = 0
    oversize_bytes: int = 0
    bytes_read: int = 0

    def as_dict(self) -> dict[str, int]:
        return {_camel(k): v for k, v in asdict(self).items()}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


@dataclass
class MailOutcome:
    """What happened to one oversize mail (a row of ``vaultmail scan`` output).

    ``warning``: why nobody is (or can be) told, for the operator (no recipient, not a mail).
    """

    key: str
    size: int
    status: str  # notified, would-notify, already-notified, in-progress, failed, given-up,
    # deferred, no-recipients, over-cap, unreadable, cold
    recipients: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    subject: str | None = None
    sender: str | None = None
    date: str | None = None
    notices: int = 0
    header_bytes_read: int = 0
    error: str | None = None
    warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "size": self.size,
            "status": self.status,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "from": self.sender,
            "date": self.date,
            "notices": self.notices,
            "bytesRead": self.header_bytes_read,
        }
        if self.dropped:
            out["dropped"] = list(self.dropped)
        if self.error:
            out["error"] = self.error
        if self.warning:
            out["warning"] = self.warning
        return out


@dataclass
class StatsMail:
    """The admin's stats mail of a run: sent to ``to``, or not (``error`` says why)."""

    to: tuple[str, ...]
    sent: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"to": list(self.to), "sent": self.sent, "error": self.error}


@dataclass
class ScanResult:
    bucket: str
    prefixes: tuple[str, ...]
    stats: ScanStats = field(default_factory=ScanStats)
    outcomes: list[MailOutcome] = field(default_factory=list)
    complete: bool = True
    stopped_sending: str | None = None
    halted: str | None = None  # why the run stopped early on an error (None: done, or the deadline)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    latencies: list[float] = field(default_factory=list)  # seconds, object LastModified -> notice sent
    # mails not notified for having more recipients than MAX_NOTICE_RECIPIENTS: (key, recipients)
    over_cap: list[tuple[str, int]] = field(default_factory=list)
    stats_mail: StatsMail | None = None

    @property
    def any_failed(self) -> bool:
        return self.stats.failed > 0

    @property
    def cut(self) -> bool:
        """Stopped before its deadline with work left (not by an error): to be continued at once."""
        return not self.complete and self.halted is None

    @property
    def newsworthy(self) -> bool:
        """Something for the admin: notices sent or not sent, mails that cannot be notified,
        a run stopped by an error."""
        s = self.stats
        news = s.notified or s.failed or s.deferred or s.no_recipients or s.unreadable or s.over_cap
        return bool(news) or bool(self.stopped_sending or self.halted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefixes": list(self.prefixes),
            "complete": self.complete,
            "stoppedSending": self.stopped_sending,
            "halted": self.halted,
            **self.stats.as_dict(),
            **({"statsMail": self.stats_mail.as_dict()} if self.stats_mail else {}),
        }
