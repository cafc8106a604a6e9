"""What one mail came to (:class:`MailResult`, data), and the one place a run counts it.

Every step of the scanner returns a :class:`MailResult`; only :meth:`Tally.count` turns
results into counters, report rows, problems for the admin, the SES stop and the oldest mail
left undecided (what holds a prefix's watermark back, see :mod:`.sweep`). Pure: no I/O; the
clock's reading comes in with each count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import StateError, VaultmailError
from .plan import Listed
from .stats import MailOutcome, ScanResult

log = logging.getLogger("vaultmail.scanner")

Kind = Literal[
    "ignore",  # not a mail object
    "small",  # under the threshold
    "cold",  # in an archive storage class
    "seen",  # older than a completed sweep's watermark
    "notified-before",  # the state table says it is done
    "settled-before",  # an earlier run found nobody to notify
    "busy",  # another run holds its claim
    "deferred",  # SES stopped this run's sending before it
    "unreadable",  # not a mail, or gone
    "read-failed",  # S3 failed reading its header block
    "no-recipients",  # nobody SES can send to
    "over-cap",  # more recipients than MAX_NOTICE_RECIPIENTS: never notified
    "would-notify",  # a dry run's answer
    "notified",  # everyone told
    "failed",  # a notice that failed (the claim released: the next run retries)
    "given-up",  # SES kept rejecting the recipients left: settled
    "halted",  # the state table failed where the run cannot go on
]

# kind -> the ScanStats counter it adds one to (ignore, small, would-notify, halted: none)
COUNTERS = {
    "cold": "cold",
    "seen": "seen_before",
    "notified-before": "already_notified",
    "settled-before": "settled",
    "busy": "in_progress",
    "deferred": "deferred",
    "unreadable": "unreadable",
    "read-failed": "failed",
    "no-recipients": "no_recipients",
    "over-cap": "over_cap",
    "notified": "notified",
    "failed": "failed",
    "given-up": "failed",
}
NOT_OVERSIZE = frozenset({"ignore", "small"})
# left undecided: a sweep must see the mail again (the prefix's watermark stays before it)
OPEN = frozenset({"busy", "deferred", "read-failed", "failed"})


@dataclass(frozen=True)
class Problem:
    """A line of the admin's mail (and a warning in the log)."""

    where: str
    error: VaultmailError
    what: str = "oversize mail not notified"


@dataclass(frozen=True)
class MailResult:
    """What one listed object came to; :meth:`Tally.count` counts it."""

    obj: Listed
    kind: Kind
    row: MailOutcome | None = None  # the report's row (``vaultmail scan``), if the mail has one
    bytes_read: int = 0
    sends: int = 0  # SES messages accepted
    told: int = 0  # recipients of those messages
    problem: Problem | None = None
    stop: VaultmailError | None = None  # SES throttled or refused the sender: send no more this run
    recipients: int = 0  # over-cap: how many the mail names
    halt: StateError | None = None  # the state table failed: the run stops (kind "halted")


class Tally:
    """One run's mutable state: the result being built, and what it learnt along the way."""

    def __init__(
        self,
        result: ScanResult,
        *,
        on_outcome: Callable[[MailOutcome], None] | None = None,
    ) -> None:
        self.result = result
        self.stats = result.stats
        self.on_outcome = on_outcome
        self.problems: list[str] = []
        self.stop_sending: VaultmailError | None = None
        self.oldest_open: float | None = None  # LastModified of the oldest mail left undecided

    def count(self, r: MailResult, now: float) -> None:
        """The one place a mail's result is counted."""
        s, obj = self.stats, r.obj
        s.scanned += 1
        if r.kind not in NOT_OVERSIZE:
            s.oversize += 1
            s.oversize_bytes += obj.size
        counter = COUNTERS.get(r.kind)
        if counter is not None:
            setattr(s, counter, getattr(s, counter) + 1)
        if r.kind == "given-up":  # of the failed: given up for good
            s.gave_up += 1
        s.bytes_read += r.bytes_read
        s.notices_sent += r.sends
        s.recipients_notified += r.told
        if r.kind in OPEN:
            self.keep_open(obj)
        if r.kind == "notified" and obj.last_modified:  # for NoticeLatency
            self.result.latencies.append(max(0.0, now - obj.last_modified))
        if r.kind == "over-cap":
            self.result.over_cap.append((obj.key, r.recipients))
        if r.stop is not None:
            self.stop_sending = r.stop
            self.result.stopped_sending = r.stop.message
        if r.problem is not None:
            self.problem(r.problem)
        if r.halt is not None:
            self.halt(obj.key, r.halt)
        if r.row is not None:
            self.emit(r.row)

    def emit(self, row: MailOutcome) -> None:
        self.result.outcomes.append(row)
        if self.on_outcome is not None:
            self.on_outcome(row)

    def keep_open(self, obj: Listed) -> None:
        when = obj.last_modified or 0.0
        self.oldest_open = when if self.oldest_open is None else min(self.oldest_open, when)

    def problem(self, p: Problem) -> None:
        self.problems.append(f"{p.where}: {p.error.reason}: {p.error.message}")
        log.warning(p.what, extra={"key": p.where, "reason": p.error.reason, "error": p.error.message})

    def halt(self, where: str, exc: StateError) -> None:
        """The state table failed where the run cannot go on without it: stop, resume next run."""
        self.result.halted = f"state table failed at {where}: {exc.message}"
        self.problem(
            Problem(where, exc, "the state table failed; stopping the run (the next run resumes here)")
        )
