"""One oversize mail, as a sweep or an arrival event finds it: count it, read its header
block (64 KiB ranged GETs, grown only for a longer block), and send its notice or say why not.
"""

from __future__ import annotations

import logging

from .. import s3 as s3io
from ..errors import NotAMail, StateError, StorageError
from ..headers import MailHeaders, parse_header_block
from ..notices import MAX_RECIPIENTS, one_line, recipients_of, show_mailbox
from .claims import Claims
from .delivery import Sender
from .plan import Decision, Listed
from .run import Run
from .stats import MailOutcome

log = logging.getLogger("vaultmail.scanner")


class MailStep:
    """Applies the plan's decision about one object."""

    def __init__(self, run: Run, claims: Claims) -> None:
        self.run = run
        self.sc = run.sc
        self.stats = run.stats
        self.sender = Sender(run, claims)

    def apply(self, decision: Decision) -> None:
        obj, action, stats = decision.obj, decision.action, self.stats
        stats.scanned += 1
        if action in ("ignore", "small"):
            return
        stats.oversize += 1
        stats.oversize_bytes += obj.size
        if action == "cold":
            stats.cold += 1
            self.run.emit(MailOutcome(obj.key, obj.size, "cold", error=f"storage class {obj.storage_class}"))
        elif action == "seen":
            stats.seen_before += 1
        elif action == "notified":
            stats.already_notified += 1
        elif action == "settled":
            stats.settled += 1
        elif action == "busy":
            stats.in_progress += 1
            self.run.keep_open(obj)
        elif self.run.stop_sending is not None and not self.run.dry_run:
            stats.deferred += 1
            self.run.keep_open(obj)
            self.run.emit(MailOutcome(obj.key, obj.size, "deferred", error=self.run.stop_sending.message))
        else:
            assert decision.state_id is not None
            self.notify(obj, decision.state_id)

    def notify(self, obj: Listed, state_id: str) -> None:
        headers, read = self.read(obj, state_id)
        if headers is None:
            return
        outcome = self.describe(obj, headers, read)
        recipients, dropped = recipients_of(headers, self.sc.settings.allowed_recipient_domains)
        outcome.recipients = tuple(r.addr for r in recipients)
        outcome.dropped = tuple(f"{d.addr} ({d.why})" for d in dropped)
        if not recipients:
            self.stats.no_recipients += 1
            outcome.status = "no-recipients"
            outcome.warning = "no recipient to notify" + (f" ({len(dropped)} left out)" if dropped else "")
            log.warning("oversize mail without a recipient to notify", extra={"key": obj.key})
            self.run.emit(outcome)
            self.settle(obj, state_id, "no recipient to notify")
            return
        if self.run.dry_run:
            outcome.status = "would-notify"
            outcome.notices = -(-len(recipients) // MAX_RECIPIENTS)
            self.run.emit(outcome)
            return
        self.sender.send(obj, state_id, headers, outcome)

    def read(self, obj: Listed, state_id: str) -> tuple[MailHeaders | None, int]:
        """The header block and the bytes read, each counted (an unreadable mail's too).

        ``(None, read)`` when there is nothing to notify from: not a mail, gone, or S3 failed.
        """
        ref = s3io.ObjectRef(self.sc.bucket, obj.key, etag=obj.etag or None, size=obj.size)
        read = 0
        try:
            block, truncated, read = s3io.read_head_bytes(self.sc.s3, ref)
            self.stats.bytes_read += read
            return parse_header_block(block, truncated=truncated), read
        except (NotAMail, s3io.MailGone) as exc:
            self.stats.unreadable += 1
            self.run.problem(obj.key, exc)
            warning = f"cannot be read as a mail ({exc.reason})"
            self.run.emit(
                MailOutcome(
                    obj.key,
                    obj.size,
                    "unreadable",
                    header_bytes_read=read,
                    error=exc.message,
                    warning=warning,
                )
            )
            if isinstance(exc, NotAMail):  # a deleted object is simply not listed again
                self.settle(obj, state_id, "not a mail")
        except StorageError as exc:
            self.stats.failed += 1
            self.run.keep_open(obj)
            self.run.problem(obj.key, exc)
            self.run.emit(MailOutcome(obj.key, obj.size, "failed", error=exc.message))
        return None, read

    def settle(self, obj: Listed, state_id: str, reason: str) -> None:
        """Nobody to notify: say so once (this run's stats), then stop reading the mail each run."""
        if self.run.dry_run or self.sc.state is None:
            return
        try:
            self.sc.state.settle(state_id, reason=reason, meta={"key": obj.key})
        except StateError as exc:  # only costs a read next run
            log.warning("could not record a settled mail", extra={"key": obj.key, "error": exc.message})

    def describe(self, obj: Listed, headers: MailHeaders, read: int) -> MailOutcome:
        return MailOutcome(
            key=obj.key,
            size=obj.size,
            status="",
            subject=one_line(headers.subject, 300) or None,
            sender=", ".join(show_mailbox(b) for b in headers.from_) or None,
            date=one_line(headers.date, 100) or None,
            header_bytes_read=read,
        )
