"""The state writes of a claim: each tried a few times, the last one maybe at the end of the run.

A state write after an accepted SES send is tried ``state_attempts`` times; if it still
fails, the mail stops there (counted failed), the run goes on, and the claim's last write
(which also records the recipients told) is tried again at the end of the run. If that
fails too, the claim is left to its lease: the run that takes it over counts the ``pending``
recipients as told (see :mod:`vaultmail.state`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..errors import StateError, VaultmailError
from ..state import Claim, LeaseLost, NotificationState
from .run import Run

log = logging.getLogger("vaultmail.scanner")

STATE_ATTEMPTS = 3  # tries of each state write that follows an SES send (record, complete)
STATE_BACKOFF = (0.2, 1.0)  # seconds between those tries

T = TypeVar("T")


@dataclass
class Delivery:
    """One mail's notice as this run sends it."""

    claim: Claim
    split_left: int  # extra SES sends left to get around rejected recipients
    told: list[str] = field(default_factory=list)  # SES accepted a send to them in this run
    unrecorded: list[str] = field(default_factory=list)  # told, but not (yet) in the item's `sent`
    # SES rejected a send to the address alone (one recipient): address -> what SES said
    rejected: dict[str, str] = field(default_factory=dict)
    # in a send SES rejected, but not tried alone (the split budget ran out): for the next run
    untried: dict[str, str] = field(default_factory=dict)
    error: VaultmailError | None = None  # what stopped the sending (SES stop, state table)


@dataclass(frozen=True)
class Unfinished:
    """A claim whose last write failed, tried again at the end of the run."""

    delivery: Delivery
    key: str
    write: Callable[[], None]
    status: str  # the item's status once the write is done


class Claims:
    """Retried state writes, and the claims to end at the end of the run."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.sc = run.sc
        self.unfinished: list[Unfinished] = []

    @property
    def state(self) -> NotificationState:
        assert self.sc.state is not None
        return self.sc.state

    def persist(self, write: Callable[[], T]) -> T:
        """``write`` (a state write that is safe to repeat), tried up to ``state_attempts`` times.

        A lost lease is final (not retried); a configuration error is raised at once.
        """
        attempts = self.sc.state_attempts
        for attempt in range(1, attempts + 1):
            try:
                return write()
            except LeaseLost:
                raise
            except StateError as exc:
                if attempt >= attempts:
                    raise
                log.warning("state table write failed; trying again", extra={"error": exc.message})
                self.sc.sleep(STATE_BACKOFF[min(attempt, len(STATE_BACKOFF)) - 1])
        raise AssertionError("unreachable")

    def end_claim(self, d: Delivery, write: Callable[[], None], status: str) -> None:
        """The write that ends a claim (``status`` once done), tried like :meth:`persist`.

        Such a write is conditional on the claim: after a try that failed but was written
        all the same, the next try finds the claim gone (LeaseLost); the item tells.
        """
        failed_before = False

        def attempt() -> None:
            nonlocal failed_before
            try:
                write()
            except LeaseLost:
                if failed_before:
                    try:
                        record = self.state.get(d.claim.id)
                    except StateError:
                        record = None
                    if record is not None and record.status == status:
                        return
                raise
            except StateError:
                failed_before = True
                raise

        self.persist(attempt)

    def close(self, d: Delivery, key: str, write: Callable[[], None], status: str) -> None:
        """End a claim now, or if the state table fails, at the end of the run."""
        try:
            self.end_claim(d, write, status)
        except LeaseLost as exc:  # another run has taken the mail over
            log.warning("lost a claim before ending it", extra={"key": key, "error": exc.message})
        except StateError:
            self.later(d, key, write, status)

    def later(self, d: Delivery, key: str, write: Callable[[], None], status: str) -> None:
        """Try the claim's last write again at the end of the run."""
        self.unfinished.append(Unfinished(d, key, write, status))

    def finish(self) -> None:
        """The end of the run: the last writes of claims that failed before (never raises)."""
        for item in self.unfinished:
            if self.run.out_of_time(self.sc.safety_margin_ms // 2):
                log.error(
                    "no time left to end a claim; it is left to its lease",
                    extra={"key": item.key, "id": item.delivery.claim.id},
                )
                continue
            try:
                self.end_claim(item.delivery, item.write, item.status)
            except VaultmailError as exc:
                # The next run that claims the mail (after the lease) counts the recipients of
                # the send written ahead (`pending`) as told: nobody twice.
                log.error(
                    "could not end a claim; it is left to its lease",
                    extra={"key": item.key, "id": item.delivery.claim.id, "error": exc.message},
                )
            else:
                log.info("ended a claim at the end of the run", extra={"key": item.key, "to": item.status})
        self.unfinished.clear()

    def release(self, d: Delivery, reason: str) -> None:
        """Give the mail back now (the next run retries), with any recipients told but not recorded."""
        try:
            self.state.release(d.claim, reason=reason, told=d.unrecorded, rejected_alone=tuple(d.rejected))
        except VaultmailError as exc:  # the lease expires anyway; `pending` covers a send not recorded
            log.warning("could not release a claim", extra={"id": d.claim.id, "error": exc.message})
