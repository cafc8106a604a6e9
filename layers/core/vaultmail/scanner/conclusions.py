"""How a mail's sending ends: notified, failed (released for the next run) or given up (settled).

An address counts as rejected only when SES rejected a send to it alone (in this run or an
earlier one: ``rejectedAlone``). Recipients the split budget did not reach are carried to
the next run. A run that leaves nobody but rejected addresses is a rejection run; the
``MAX_REJECTED_RUNS``-th gives the mail up (settled). A state write after an accepted send
that keeps failing stops only that mail: its claim is ended at the end of the run or left to
its lease, never released in a way that would tell anyone twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from .. import s3 as s3io
from ..errors import StateError, StorageError, VaultmailError
from ..notices import Notice
from ..ses import SesError
from ..state import FAILED, MAX_REJECTED_RUNS, NOTIFIED, SETTLED, LeaseLost
from .claims import Claims, Delivery
from .plan import Listed
from .run import Run
from .stats import MailOutcome

log = logging.getLogger("vaultmail.scanner")

NOTIFIED_TAG = "vaultmail-notified"


class Conclusions:
    """Counts a mail's outcome and makes the write that ends its claim."""

    def __init__(self, run: Run, claims: Claims) -> None:
        self.run = run
        self.sc = run.sc
        self.stats = run.stats
        self.claims = claims

    def conclude(self, obj: Listed, d: Delivery, notice: Notice, outcome: MailOutcome) -> None:
        """Count the mail and end its claim: notified, failed (released) or given up (settled)."""
        state, claims, claim = self.claims.state, self.claims, d.claim
        all_told = set(notice.addresses) <= set(d.told)
        alone = tuple(d.rejected)  # joins the item's `rejectedAlone` with any write that ends the claim
        key = {"key": obj.key}
        if d.error is None and all_told:
            try:
                claims.end_claim(d, lambda: state.complete(claim, extra=key), NOTIFIED)
            except StateError as exc:
                self.fail(obj, outcome, exc, "everyone was told, but the state table did not record it")
                if not isinstance(exc, LeaseLost):
                    claims.later(d, obj.key, lambda: state.complete(claim, extra=key), NOTIFIED)
                return
            self.notified(obj, notice, outcome)
            return
        if isinstance(d.error, LeaseLost):  # another run took the mail over: it finishes it
            self.fail(obj, outcome, d.error)
            return
        if isinstance(d.error, StateError):  # a write ahead or a record failed: end the claim later
            self.fail(obj, outcome, d.error)
            told = tuple(d.unrecorded)
            reason = f"{d.error.reason}: {d.error.message}"
            if all_told:
                claims.later(d, obj.key, lambda: state.complete(claim, extra=key, told=told), NOTIFIED)
            else:
                release = lambda: state.release(claim, reason=reason, told=told, rejected_alone=alone)  # noqa: E731
                claims.later(d, obj.key, release, FAILED)
            return
        if isinstance(d.error, SesError):  # throttled, or the sender refused: stop sending
            self.run.stop_sending = d.error
            self.run.result.stopped_sending = d.error.message
            self.fail(obj, outcome, d.error)
            reason = f"{d.error.reason}: {d.error.message}"
            claims.close(
                d, obj.key, lambda: state.release(claim, reason=reason, rejected_alone=alone), FAILED
            )
            return
        self.rejected(obj, d, notice, outcome)

    def rejected(self, obj: Listed, d: Delivery, notice: Notice, outcome: MailOutcome) -> None:
        """Every send was made; SES rejected some: carry on next run, or give up on the mail."""
        state, claim = self.claims.state, d.claim
        told = {a.lower() for a in d.told}
        bad = {a.lower() for a in (*claim.rejected_alone, *d.rejected)}
        left = [a for a in notice.addresses if a.lower() not in told]
        shown = sorted(a for a in left if a.lower() in bad)  # rejected alone, not told
        waiting = [a for a in left if a.lower() not in bad]  # not tried alone yet
        names = ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
        said = next(iter([*d.rejected.values(), *d.untried.values()]), "rejected alone before")
        alone = tuple(d.rejected)
        runs = claim.rejections + 1
        total = len(notice.recipients)
        self.stats.failed += 1
        write: Callable[[], None]
        if waiting:  # the split budget ran out before them: not a rejection run
            reason = (
                f"SesRejected: {len(waiting)} recipients not tried alone yet (the split budget ran out); "
                f"SES rejected {len(shown)} alone: {said}"
            )
            error: VaultmailError = SesError(
                f"{len(waiting)} of {total} recipients not tried alone yet (the split "
                f"budget ran out; the next run tries them): {said}; {len(shown)} rejected by SES alone"
                f"{f' ({names})' if names else ''}; {len(d.told)} told",
                reason="SesRejected",
            )
            outcome.status = "failed"
            write = lambda: state.release(claim, reason=reason, rejected_alone=alone)  # noqa: E731
            status = FAILED
        elif runs >= MAX_REJECTED_RUNS:
            reason = f"SES rejected {len(shown)} recipients after {runs} attempts"
            error = SesError(f"{reason} ({names}: {said}); given up", reason="GaveUp")
            self.stats.gave_up += 1
            outcome.status = "given-up"
            outcome.dropped += tuple(f"{a} (rejected by SES)" for a in shown)
            write = lambda: state.settle_claim(claim, reason=reason, rejected_alone=alone)  # noqa: E731
            status = SETTLED
        else:
            reason = f"SesRejected: SES rejected {len(shown)} of {total} recipients: {said}"
            error = SesError(
                f"SES rejected {len(shown)} of {total} recipients ({names}: {said}); "
                f"{len(d.told)} told; attempt {runs} of {MAX_REJECTED_RUNS}",
                reason="SesRejected",
            )
            outcome.status = "failed"
            write = lambda: state.release(claim, reason=reason, rejected=True, rejected_alone=alone)  # noqa: E731
            status = FAILED
        if status == FAILED:
            self.run.keep_open(obj)
        outcome.error = error.message
        self.run.problem(obj.key, error)
        self.run.emit(outcome)
        self.claims.close(d, obj.key, write, status)

    def notified(self, obj: Listed, notice: Notice, outcome: MailOutcome) -> None:
        self.stats.notified += 1
        self.run.notice_sent(obj)
        outcome.status = "notified"
        outcome.recipients = notice.addresses
        log.info(
            "notified",
            extra={
                "key": obj.key,
                "size": obj.size,
                "recipients": len(notice.recipients),
                "sends": outcome.notices,
            },
        )
        if self.sc.tag_objects:
            self.tag(obj)
        self.run.emit(outcome)

    def fail(self, obj: Listed, outcome: MailOutcome, exc: VaultmailError, what: str = "") -> None:
        self.stats.failed += 1
        self.run.keep_open(obj)
        self.run.problem(obj.key, exc)
        outcome.status = "failed"
        outcome.error = f"{what}: {exc.message}" if what else exc.message
        self.run.emit(outcome)

    def tag(self, obj: Listed) -> None:
        """Best effort: the state table, not the tag, is the source of truth."""
        when = datetime.fromtimestamp(self.sc.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            s3io.tag(self.sc.s3, s3io.ObjectRef(self.sc.bucket, obj.key), {NOTIFIED_TAG: when})
        except StorageError as exc:
            log.warning("could not tag a notified object", extra={"key": obj.key, "error": exc.message})
