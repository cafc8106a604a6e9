"""The state table's writes, as data (pure: no I/O): each function returns the :class:`Update`
that :class:`~.table.NotificationState` makes, so the claim protocol reads in one place.

A write on a claim this run holds is *owned*: conditional on the item still being claimed by
this owner (else the lease ran out and another run took it over: ``LeaseLost``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .items import (
    CLAIM_RETENTION,
    CLAIMABLE,
    CLAIMED,
    FAILED,
    NOTIFIED,
    SETTLED,
    Claim,
    add_rejected_alone,
    add_sent,
    iso,
    string_sets,
)

OWNED = "#o = :me AND #s = :claimedst"


@dataclass(frozen=True)
class Update:
    """One UpdateItem; ``on_condition``: what a failed condition means (``None`` returned, or
    ``lease``: the claim is no longer ours)."""

    item_id: str
    expression: str
    values: dict[str, Any]
    what: str
    names: dict[str, str] = field(default_factory=dict)
    condition: str | None = None
    on_condition: Literal["none", "lease"] = "none"
    returns: Literal["NONE", "ALL_NEW"] = "NONE"


def owned(
    claim: Claim, expression: str, values: dict[str, Any], what: str, names: Mapping[str, str] | None = None
) -> Update:
    return Update(
        claim.id,
        expression,
        {**values, ":me": {"S": claim.owner}, ":claimedst": {"S": CLAIMED}},
        what,
        names={"#s": "status", "#o": "owner", **(names or {})},
        condition=OWNED,
        on_condition="lease",
    )


def claim(
    item_id: str, *, owner: str, now: int, lease_seconds: int, meta: Mapping[str, str] | None
) -> Update:
    """Claim one mail: it is new, a previous send failed, or another run's lease ran out."""
    until = now + lease_seconds
    names = {"#s": "status", "#o": "owner"}
    values: dict[str, Any] = {
        ":claimed": {"S": CLAIMED},
        ":failed": {"S": FAILED},
        ":now": {"N": str(now)},
        ":until": {"N": str(until)},
        ":owner": {"S": owner},
        ":exp": {"N": str(until + CLAIM_RETENTION)},
        ":zero": {"N": "0"},
        ":one": {"N": "1"},
        ":at": {"S": iso(now)},
    }
    sets = [
        "#s = :claimed",
        "#o = :owner",
        "leaseUntil = :until",
        "expiration = :exp",
        "claimedAt = :at",
        "attempts = if_not_exists(attempts, :zero) + :one",
        *string_sets(meta, names, values),
    ]
    return Update(
        item_id, "SET " + ", ".join(sets), values, "claim", names, CLAIMABLE, "none", returns="ALL_NEW"
    )


def claimed(item_id: str, owner: str, until: int, attrs: Mapping[str, Any]) -> tuple[Claim, frozenset[str]]:
    """The claim that the item's new attributes describe, and its ``pending`` recipients (a send
    whose outcome was never recorded: counted as told)."""
    sent = frozenset(attrs.get("sent", {}).get("SS", ()))
    pending = frozenset(attrs.get("pending", {}).get("SS", ())) - sent
    claim = Claim(
        id=item_id,
        owner=owner,
        lease_until=until,
        attempts=int(attrs.get("attempts", {}).get("N", "1")),
        sent=sent | pending,
        rejections=int(attrs.get("rejections", {}).get("N", "0")),
        rejected_alone=frozenset(attrs.get("rejectedAlone", {}).get("SS", ())),
    )
    return claim, pending


def follow_up(claim: Claim, pending: frozenset[str]) -> Update | None:
    """After a claim: move ``pending`` into ``sent``, or keep an item someone was told about."""
    if pending:
        return owned(
            claim,
            "ADD sent :pending REMOVE pending, expiration",
            {":pending": {"SS": sorted(pending)}},
            "keep pending",
        )
    if claim.sent:  # a retry after a partial send: never let TTL forget who was told
        return owned(claim, "REMOVE expiration", {}, "keep")
    return None


def begin_send(claim: Claim, addresses: Iterable[str]) -> Update | None:
    """Write ahead: the recipients of the send about to be made (see ``pending``)."""
    addrs = set(addresses)
    if not addrs:
        return None
    return owned(claim, "SET pending = :p", {":p": {"SS": sorted(addrs | claim.unmerged)}}, "begin send")


def record_sent(claim: Claim, addrs: list[str]) -> Update:
    """Recipients told (and the claim's unmerged ones); someone was told: keep the item."""
    return owned(claim, "ADD sent :addrs REMOVE expiration", {":addrs": {"SS": addrs}}, "record sent")


def complete(claim: Claim, now: float, extra: Mapping[str, str] | None, told: Iterable[str]) -> Update:
    values: dict[str, Any] = {":notified": {"S": NOTIFIED}, ":at": {"S": iso(now)}}
    names: dict[str, str] = {}
    sets = ["#s = :notified", "notifiedAt = :at", *string_sets(extra, names, values)]
    adds = add_sent({*told, *claim.unmerged}, values)
    expression = "SET " + ", ".join(sets) + _adds(adds) + " REMOVE pending, expiration, leaseUntil, #o"
    return owned(claim, expression, values, "complete", names)


def release(
    claim: Claim,
    now: float,
    *,
    reason: str,
    told: Iterable[str],
    rejected: bool,
    rejected_alone: Iterable[str],
) -> Update:
    addrs = sorted({*told, *claim.unmerged})
    values: dict[str, Any] = {
        ":failed": {"S": FAILED},
        ":why": {"S": reason[:500] or "unknown"},
        ":at": {"S": iso(now)},
    }
    adds = add_sent(addrs, values) + add_rejected_alone(rejected_alone, values)
    if rejected:
        values[":one"] = {"N": "1"}
        adds.append("rejections :one")
    # someone was ever told: the item must outlive any TTL (the claim set `expiration`)
    removed = ["pending", "leaseUntil", "#o"] + (["expiration"] if addrs or claim.sent else [])
    expression = (
        "SET #s = :failed, failedReason = :why, failedAt = :at"
        + _adds(adds)
        + " REMOVE "
        + ", ".join(removed)
    )
    return owned(claim, expression, values, "release")


def settle_claim(
    claim: Claim, now: float, *, reason: str, told: Iterable[str], rejected_alone: Iterable[str]
) -> Update:
    addrs = sorted({*told, *claim.unmerged})
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
    expression = "SET " + ", ".join(sets) + _adds(adds) + " REMOVE " + ", ".join(removed)
    return owned(claim, expression, values, "settle", {"#why": "reason"})


def mark_notified(item_id: str, *, now: int, notified_at: str, meta: Mapping[str, str] | None) -> Update:
    names = {"#s": "status", "#o": "owner"}
    values: dict[str, Any] = {
        ":notified": {"S": NOTIFIED},
        ":at": {"S": notified_at},
        ":claimed": {"S": CLAIMED},
        ":failed": {"S": FAILED},
        ":now": {"N": str(now)},
    }
    sets = ["#s = :notified", "notifiedAt = :at", *string_sets(meta, names, values)]
    expression = "SET " + ", ".join(sets) + " REMOVE pending, expiration, leaseUntil, #o"
    return Update(item_id, expression, values, "mark notified", names, CLAIMABLE, "none")


def settled_item(item_id: str, *, now: float, reason: str, meta: Mapping[str, str] | None) -> dict[str, Any]:
    """The item of a mail with nobody to notify (expires after 90 days)."""
    item: dict[str, Any] = {
        "id": {"S": item_id},
        "status": {"S": SETTLED},
        "reason": {"S": reason},
        "settledAt": {"S": iso(now)},
        "expiration": {"N": str(int(now) + CLAIM_RETENTION)},
    }
    for name, value in (meta or {}).items():
        item[name] = {"S": str(value)}
    return item


def _adds(adds: list[str]) -> str:
    return " ADD " + ", ".join(adds) if adds else ""
