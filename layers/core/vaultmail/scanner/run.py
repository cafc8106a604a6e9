"""The state of one run, shared by its parts (listing, one mail, delivery, claims).

A :class:`Run` is made per invocation (the :class:`~.core.Scanner` is reusable): it holds the
result being built, the problems for the admin's mail, the SES stop (throttled, sender
refused) that defers the mails after it, and the oldest mail of the current prefix that is
not decided yet (what holds the prefix's watermark back, see :mod:`.listing`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Container
from typing import TYPE_CHECKING

from ..errors import StateError, VaultmailError
from ..ses import SesError
from .plan import Listed, out_of_time
from .stats import MailOutcome, ScanResult

if TYPE_CHECKING:
    from .core import Scanner

log = logging.getLogger("vaultmail.scanner")


class Run:
    """One run's shared state (kept apart from the reusable Scanner)."""

    def __init__(
        self,
        scanner: Scanner,
        result: ScanResult,
        *,
        remaining_ms: Callable[[], int] | None = None,
        dry_run: bool = False,
        assume_notified: Container[str] = frozenset(),
        on_outcome: Callable[[MailOutcome], None] | None = None,
    ) -> None:
        self.sc = scanner
        self.result = result
        self.stats = result.stats
        self.remaining_ms = remaining_ms
        self.dry_run = dry_run
        self.assume_notified = assume_notified
        self.on_outcome = on_outcome
        self.problems: list[str] = []
        self.stop_sending: SesError | None = None
        self.owner = scanner.owner or f"scan-{uuid.uuid4().hex[:16]}"
        self.oldest_open: float | None = None  # LastModified of the oldest mail left undecided

    def out_of_time(self, margin_ms: int | None = None) -> bool:
        return out_of_time(self.remaining_ms, self.sc.safety_margin_ms if margin_ms is None else margin_ms)

    def emit(self, outcome: MailOutcome) -> None:
        self.result.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def keep_open(self, obj: Listed) -> None:
        """``obj`` is not decided (failed, deferred, claimed elsewhere): a sweep must see it again."""
        when = obj.last_modified or 0.0
        self.oldest_open = when if self.oldest_open is None else min(self.oldest_open, when)

    def notice_sent(self, obj: Listed) -> None:
        """Everyone was told: the latency from the object's creation, for NoticeLatency."""
        if obj.last_modified:
            self.result.latencies.append(max(0.0, self.sc.clock() - obj.last_modified))

    def problem(self, key: str, exc: VaultmailError, what: str = "oversize mail not notified") -> None:
        self.problems.append(f"{key}: {exc.reason}: {exc.message}")
        log.warning(what, extra={"key": key, "reason": exc.reason, "error": exc.message})

    def halt(self, where: str, exc: StateError) -> None:
        """The state table failed where the run cannot go on without it: stop, resume next run."""
        self.result.halted = f"state table failed at {where}: {exc.message}"
        self.problem(where, exc, "the state table failed; stopping the run (the next run resumes here)")
