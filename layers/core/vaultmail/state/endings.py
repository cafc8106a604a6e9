"""The write that ends a claim: notified for good, released for a retry, or settled."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .claims import ClaimWrites
from .items import (
    CLAIM_RETENTION,
    FAILED,
    NOTIFIED,
    SETTLED,
    Claim,
    add_rejected_alone,
    add_sent,
    iso,
    string_sets,
)


class ClaimEndings(ClaimWrites):
    """Completion, release and settling of a claim this run holds."""

    def complete(
        self, claim: Claim, *, extra: Mapping[str, str] | None = None, told: Iterable[str] = ()
    ) -> None:
        """Mark the mail notified, for good (the item loses its ``expiration``).

        ``told``: recipients told whose send could not be recorded before, added to ``sent``
        (with the claim's :attr:`~Claim.unmerged` ones).
        """
        values: dict[str, Any] = {":notified": {"S": NOTIFIED}, ":at": {"S": iso(self.clock())}}
        names: dict[str, str] = {}
        sets = ["#s = :notified", "notifiedAt = :at"]
        sets += string_sets(extra, names, values)
        adds = add_sent({*told, *claim.unmerged}, values)
        self._owned_update(
            claim,
            "SET "
            + ", ".join(sets)
            + (" ADD " + ", ".join(adds) if adds else "")
            + " REMOVE pending, expiration, leaseUntil, #o",
            values,
            names=names,
            what="complete",
        )

    def release(
        self,
        claim: Claim,
        *,
        reason: str,
        told: Iterable[str] = (),
        rejected: bool = False,
        rejected_alone: Iterable[str] = (),
    ) -> None:
        """Give the mail back after a failed send: the next run retries it (``sent`` is kept).

        ``told``: recipients told whose send could not be recorded before, added to ``sent``
        in the same write (so nobody is told again), with the claim's
        :attr:`~Claim.unmerged` ones. ``rejected_alone``: recipients SES rejected in a send
        to them alone, added to ``rejectedAlone``. ``rejected``: this run ended with nobody
        left but such recipients (one more in ``rejections``).
        """
        addrs = sorted({*told, *claim.unmerged})
        values: dict[str, Any] = {
            ":failed": {"S": FAILED},
            ":why": {"S": reason[:500] or "unknown"},
            ":at": {"S": iso(self.clock())},
        }
        adds = add_sent(addrs, values) + add_rejected_alone(rejected_alone, values)
        if rejected:
            values[":one"] = {"N": "1"}
            adds.append("rejections :one")
        # someone was ever told: the item must outlive any TTL (the claim set `expiration`)
        removed = ["pending", "leaseUntil", "#o"] + (["expiration"] if addrs or claim.sent else [])
        self._owned_update(
            claim,
            "SET #s = :failed, failedReason = :why, failedAt = :at"
            + (" ADD " + ", ".join(adds) if adds else "")
            + " REMOVE "
            + ", ".join(removed),
            values,
            what="release",
        )

    def settle_claim(
        self, claim: Claim, *, reason: str, told: Iterable[str] = (), rejected_alone: Iterable[str] = ()
    ) -> None:
        """Stop retrying a claimed mail (SES keeps rejecting the recipients left): ``settled``.

        Like :meth:`settle`, the item expires after 90 days, unless someone was ever told:
        then it is kept for good, so that no later run tells them again. ``told`` and
        ``rejected_alone`` as for :meth:`release`.
        """
        addrs = sorted({*told, *claim.unmerged})
        now = self.clock()
        values: dict[str, Any] = {
            ":settled": {"S": SETTLED},
            ":why": {"S": reason[:500] or "unknown"},
            ":at": {"S": iso(now)},
        }
        sets = ["#s = :settled", "#why = :why", "settledAt = :at"]
        removed = ["pending", "leaseUntil", "#o"]
        if claim.sent or addrs:
            removed.append("expiration")
        else:
            values[":exp"] = {"N": str(int(now) + CLAIM_RETENTION)}
            sets.append("expiration = :exp")
        adds = add_sent(addrs, values) + add_rejected_alone(rejected_alone, values)
        self._owned_update(
            claim,
            "SET "
            + ", ".join(sets)
            + (" ADD " + ", ".join(adds) if adds else "")
            + " REMOVE "
            + ", ".join(removed),
            values,
            names={"#why": "reason"},
            what="settle",
        )
