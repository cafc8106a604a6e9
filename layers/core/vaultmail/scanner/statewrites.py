"""The state writes of a notice: each tried a few times, the last one maybe at the end of the run.

A state write after an accepted SES send is tried ``attempts`` times; if it still fails, the
mail stops there (counted failed), the run goes on, and the claim's last write (which also
records the recipients told) is tried again at the end of the run (:meth:`StateWrites.finish`).
If that fails too, the claim is left to its lease: the run that takes it over counts the
``pending`` recipients as told (see :mod:`vaultmail.state`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import StateError, VaultmailError
from ..state import Claim, LeaseLost, NotificationState
from .conclusions import Ending

log = logging.getLogger("vaultmail.scanner")

STATE_ATTEMPTS = 3  # tries of each state write that follows an SES send (record, complete)
STATE_BACKOFF = (0.2, 1.0)  # seconds between those tries

T = TypeVar("T")


@dataclass(frozen=True)
class Unfinished:
    """A claim whose last write failed, tried again at the end of the run."""

    claim: Claim
    key: str
    ending: Ending


class StateWrites:
    """Retried writes of this run's claims, and the endings left for the end of the run."""

    def __init__(self, state: NotificationState, *, attempts: int, sleep: Callable[[float], None]) -> None:
        self.state = state
        self.attempts = max(1, attempts)
        self.sleep = sleep
        self.unfinished: list[Unfinished] = []

    def persist(self, write: Callable[[], T]) -> T:
        """``write`` (a state write that is safe to repeat), tried up to ``attempts`` times.

        A lost lease is final (not retried); a configuration error is raised at once.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return write()
            except LeaseLost:
                raise
            except StateError as exc:
                if attempt >= self.attempts:
                    raise
                log.warning("state table write failed; trying again", extra={"error": exc.message})
                self.sleep(STATE_BACKOFF[min(attempt, len(STATE_BACKOFF)) - 1])
        raise AssertionError("unreachable")

    def write(self, claim: Claim, key: str, ending: Ending) -> None:
        """The write that ends ``claim``."""
        if ending.write == "complete":
            self.state.complete(claim, extra={"key": key}, told=ending.told)
        elif ending.write == "release":
            self.state.release(
                claim,
                reason=ending.reason,
                told=ending.told,
                rejected=ending.rejected,
                rejected_alone=ending.rejected_alone,
            )
        else:
            self.state.settle_claim(claim, reason=ending.reason, rejected_alone=ending.rejected_alone)

    def end(self, claim: Claim, key: str, ending: Ending) -> None:
        """End a claim (tried like :meth:`persist`).

        Such a write is conditional on the claim: after a try that failed but was written
        all the same, the next try finds the claim gone (LeaseLost); the item tells.
        """
        failed_before = False

        def attempt() -> None:
            nonlocal failed_before
            try:
                self.write(claim, key, ending)
            except LeaseLost:
                if failed_before and self._status(claim) == ending.status:
                    return
                raise
            except StateError:
                failed_before = True
                raise

        self.persist(attempt)

    def _status(self, claim: Claim) -> str | None:
        try:
            record = self.state.get(claim.id)
        except StateError:
            return None
        return record.status if record is not None else None

    def close(self, claim: Claim, key: str, ending: Ending) -> None:
        """End a claim now, or if the state table fails, at the end of the run."""
        try:
            self.end(claim, key, ending)
        except LeaseLost as exc:  # another run has taken the mail over
            log.warning("lost a claim before ending it", extra={"key": key, "error": exc.message})
        except StateError:
            self.later(claim, key, ending)

    def later(self, claim: Claim, key: str, ending: Ending) -> None:
        """Try the claim's last write again at the end of the run."""
        self.unfinished.append(Unfinished(claim, key, ending))

    def finish(self, out_of_time: Callable[[], bool]) -> None:
        """The end of the run: the last writes of claims that failed before (never raises)."""
        for item in self.unfinished:
            where = {"key": item.key, "id": item.claim.id}
            if out_of_time():
                log.error("no time left to end a claim; it is left to its lease", extra=where)
                continue
            try:
                self.end(item.claim, item.key, item.ending)
            except VaultmailError as exc:
                # The next run that claims the mail (after the lease) counts the recipients of
                # the send written ahead (`pending`) as told: nobody twice.
                log.error(
                    "could not end a claim; it is left to its lease", extra={**where, "error": exc.message}
                )
            else:
                log.info(
                    "ended a claim at the end of the run", extra={"key": item.key, "to": item.ending.status}
                )
        self.unfinished.clear()

    def release_now(
        self, claim: Claim, reason: str, told: list[str], rejected_alone: tuple[str, ...]
    ) -> None:
        """Give the mail back now (the next run retries), with any recipients told but not recorded."""
        try:
            self.state.release(claim, reason=reason, told=told, rejected_alone=rejected_alone)
        except VaultmailError as exc:  # the lease expires anyway; `pending` covers a send not recorded
            log.warning("could not release a claim", extra={"id": claim.id, "error": exc.message})
