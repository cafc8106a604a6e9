"""One plan decision -> one :class:`~.tally.MailResult`: read, look at the audience, send.

``notify`` decisions read the mail's header block (:mod:`.reading`), ask :func:`~.compose.audience`
who would be told, and hand the mail to the sender: :class:`~.notify.Notifier`, or
:class:`~.notify.DryRun`, which sends nothing. Nothing is counted here (see :mod:`.tally`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from .. import s3 as s3io
from ..errors import NotAMail, VaultmailError
from ..headers import MailHeaders
from ..settings import Settings
from .compose import Audience, audience, describe
from .plan import Decision, Listed
from .reading import read_head
from .stats import MailOutcome, ScanResult, StatsMail
from .tally import Kind, MailResult, Problem

log = logging.getLogger("vaultmail.scanner")

# decisions the plan takes alone (no read): their kind in the tally
DECIDED: dict[str, Kind] = {
    "ignore": "ignore",
    "small": "small",
    "seen": "seen",
    "notified": "notified-before",
    "settled": "settled-before",
    "busy": "busy",
}


class Sender(Protocol):
    """What sends (or, in a dry run, does not send) a mail's notice."""

    def notify(
        self, obj: Listed, state_id: str, headers: MailHeaders, row: MailOutcome, who: Audience
    ) -> MailResult: ...

    def settle(self, obj: Listed, state_id: str, reason: str) -> None: ...

    def finish(self, out_of_time: Callable[[], bool]) -> None: ...

    def stats_mail(self, result: ScanResult, problems: Sequence[str]) -> StatsMail | None: ...


class MailSteps:
    """Applies the plan's decision about one object; returns what it came to."""

    def __init__(self, *, s3: Any, bucket: str, settings: Settings, sender: Sender) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.settings = settings
        self.sender = sender

    def apply(self, decision: Decision, stop_sending: VaultmailError | None) -> MailResult:
        obj, action = decision.obj, decision.action
        if action in DECIDED:
            return MailResult(obj, DECIDED[action])
        if action == "cold":
            row = MailOutcome(obj.key, obj.size, "cold", error=f"storage class {obj.storage_class}")
            return MailResult(obj, "cold", row)
        if stop_sending is not None:
            row = MailOutcome(obj.key, obj.size, "deferred", error=stop_sending.message)
            return MailResult(obj, "deferred", row)
        assert decision.state_id is not None
        return self.notify(obj, decision.state_id)

    def notify(self, obj: Listed, state_id: str) -> MailResult:
        head = read_head(self.s3, self.bucket, obj)
        if head.headers is None:
            assert head.error is not None
            return self.unreadable(obj, state_id, head.error, head.read)
        who = audience(head.headers, self.settings)
        row = describe(obj, head.headers, head.read, who)
        if who.verdict == "no-recipients":
            log.warning("oversize mail without a recipient to notify", extra={"key": obj.key})
            self.sender.settle(obj, state_id, "no recipient to notify")
            return MailResult(obj, "no-recipients", row, bytes_read=head.read)
        if who.verdict == "over-cap":
            count = len(who.recipients)
            log.warning(  # never the addresses: the count is what the admin needs
                "oversize mail over MAX_NOTICE_RECIPIENTS: not notified",
                extra={"key": obj.key, "recipients": count, "cap": who.cap},
            )
            self.sender.settle(obj, state_id, f"over MAX_NOTICE_RECIPIENTS ({count} recipients)")
            return MailResult(obj, "over-cap", row, bytes_read=head.read, recipients=count)
        result = self.sender.notify(obj, state_id, head.headers, row, who)
        return replace(result, bytes_read=head.read)

    def unreadable(self, obj: Listed, state_id: str, exc: VaultmailError, read: int) -> MailResult:
        """Not a mail, or gone: reported (and a non-mail settled); S3 failing: tried next run."""
        if not isinstance(exc, (NotAMail, s3io.MailGone)):
            row = MailOutcome(obj.key, obj.size, "failed", error=exc.message)
            return MailResult(obj, "read-failed", row, bytes_read=read, problem=Problem(obj.key, exc))
        warning = f"cannot be read as a mail ({exc.reason})"
        row = MailOutcome(
            obj.key, obj.size, "unreadable", header_bytes_read=read, error=exc.message, warning=warning
        )
        if isinstance(exc, NotAMail):  # a deleted object is simply not listed again
            self.sender.settle(obj, state_id, "not a mail")
        return MailResult(obj, "unreadable", row, bytes_read=read, problem=Problem(obj.key, exc))
