"""How a mail's sending ends (pure): notified, failed (released for the next run) or given up.

:func:`conclude` takes what the sends came to (:class:`NoticeProgress`) and returns a
:class:`Conclusion`: the mail's kind for the tally, its error, and the :class:`Ending`, the
state write that ends the claim and when to make it. :mod:`.notify` makes the write.

An address counts as rejected only when SES rejected a send to it alone (in this run or an
earlier one: ``rejectedAlone``). Recipients the split budget did not reach are carried to
the next run. A run that leaves nobody but rejected addresses is a rejection run; the
``MAX_REJECTED_RUNS``-th gives the mail up (settled). A state write after an accepted send
that keeps failing stops only that mail: its claim is ended at the end of the run or left to
its lease, never released in a way that would tell anyone twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..errors import StateError, VaultmailError
from ..notices import Notice
from ..ses import SesError
from ..state.items import FAILED, MAX_REJECTED_RUNS, NOTIFIED, SETTLED, Claim, LeaseLost


@dataclass
class NoticeProgress:
    """One mail's notice as this run sends it (filled in by :mod:`.notify`)."""

    claim: Claim
    split_left: int  # extra SES sends left to get around rejected recipients
    told: list[str] = field(default_factory=list)  # SES accepted a send to them in this run
    unrecorded: list[str] = field(default_factory=list)  # told, but not (yet) in the item's `sent`
    # SES rejected a send to the address alone (one recipient): address -> what SES said
    rejected: dict[str, str] = field(default_factory=dict)
    # in a send SES rejected, but not tried alone (the split budget ran out): for the next run
    untried: dict[str, str] = field(default_factory=dict)
    error: VaultmailError | None = None  # what stopped the sending (SES stop, state table)
    sends: int = 0  # SES messages accepted
    told_count: int = 0  # recipients of those messages


@dataclass(frozen=True)
class Ending:
    """The state write that ends a claim (``status`` once done).

    ``when``: ``confirm`` (now; the mail is notified only if it is written), ``close`` (now,
    else at the end of the run), ``later`` (at the end of the run).
    """

    write: Literal["complete", "release", "settle"]
    when: Literal["confirm", "close", "later"]
    told: tuple[str, ...] = ()
    reason: str = ""
    rejected: bool = False
    rejected_alone: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return {"complete": NOTIFIED, "release": FAILED, "settle": SETTLED}[self.write]


@dataclass(frozen=True)
class Conclusion:
    kind: Literal["notified", "failed", "given-up"]
    error: VaultmailError | None = None
    ending: Ending | None = None
    stop: SesError | None = None  # send no more this run
    dropped: tuple[str, ...] = ()  # given up: the addresses SES kept rejecting


def conclude(d: NoticeProgress, notice: Notice) -> Conclusion:
    all_told = set(notice.addresses) <= set(d.told)
    alone = tuple(d.rejected)  # joins the item's `rejectedAlone` with any write that ends the claim
    if d.error is None and all_told:
        return Conclusion("notified", ending=Ending("complete", "confirm"))
    if isinstance(d.error, LeaseLost):  # another run took the mail over: it finishes it
        return Conclusion("failed", d.error)
    if isinstance(d.error, StateError):  # a write ahead or a record failed: end the claim later
        told = tuple(d.unrecorded)
        if all_told:
            return Conclusion("failed", d.error, Ending("complete", "later", told=told))
        reason = f"{d.error.reason}: {d.error.message}"
        return Conclusion("failed", d.error, Ending("release", "later", told, reason, rejected_alone=alone))
    if isinstance(d.error, SesError):  # throttled, or the sender refused: stop sending
        reason = f"{d.error.reason}: {d.error.message}"
        ending = Ending("release", "close", reason=reason, rejected_alone=alone)
        return Conclusion("failed", d.error, ending, stop=d.error)
    return rejected(d, notice)


def rejected(d: NoticeProgress, notice: Notice) -> Conclusion:
    """Every send was made; SES rejected some: carry on next run, or give up on the mail."""
    claim = d.claim
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
    if waiting:  # the split budget ran out before them: not a rejection run
        error = SesError(
            f"{len(waiting)} of {total} recipients not tried alone yet (the split "
            f"budget ran out; the next run tries them): {said}; {len(shown)} rejected by SES alone"
            f"{f' ({names})' if names else ''}; {len(d.told)} told",
            reason="SesRejected",
        )
        reason = (
            f"SesRejected: {len(waiting)} recipients not tried alone yet (the split budget ran out); "
            f"SES rejected {len(shown)} alone: {said}"
        )
        return Conclusion("failed", error, Ending("release", "close", reason=reason, rejected_alone=alone))
    if runs >= MAX_REJECTED_RUNS:
        reason = f"SES rejected {len(shown)} recipients after {runs} attempts"
        error = SesError(f"{reason} ({names}: {said}); given up", reason="GaveUp")
        ending = Ending("settle", "close", reason=reason, rejected_alone=alone)
        return Conclusion("given-up", error, ending, dropped=tuple(f"{a} (rejected by SES)" for a in shown))
    reason = f"SesRejected: SES rejected {len(shown)} of {total} recipients: {said}"
    error = SesError(
        f"SES rejected {len(shown)} of {total} recipients ({names}: {said}); "
        f"{len(d.told)} told; attempt {runs} of {MAX_REJECTED_RUNS}",
        reason="SesRejected",
    )
    ending = Ending("release", "close", reason=reason, rejected=True, rejected_alone=alone)
    return Conclusion("failed", error, ending)
