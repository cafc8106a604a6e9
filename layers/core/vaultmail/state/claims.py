"""Claiming a mail and the writes of a claim held (write ahead, record sent), all conditional."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from ..errors import StateError
from .items import (
    CLAIM_RETENTION,
    CLAIMABLE,
    CLAIMED,
    DEFAULT_LEASE_SECONDS,
    FAILED,
    Claim,
    LeaseLost,
    conditional_failed,
    converted,
    iso,
    string_sets,
)


class ClaimWrites:
    """The claim protocol's first writes; :class:`~.endings.ClaimEndings` ends a claim."""

    def __init__(self, dynamodb: Any, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self.db = dynamodb
        self.table = table
        self.clock = clock

    def claim(
        self,
        item_id: str,
        *,
        owner: str,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        meta: Mapping[str, str] | None = None,
    ) -> Claim | None:
        """Claim one mail before notifying; None if it is notified or another run holds it.

        Succeeds when the item does not exist, when a previous send failed, or when the
        claim of another run has outlived its lease (that run crashed). A follow-up write
        moves a ``pending`` set left over into ``sent`` (or keeps an item someone was told
        about from expiring); if it fails, the claim is ours all the same: those recipients
        are counted as told (:attr:`Claim.unmerged`) and this claim's next writes add them
        to ``sent`` (until then they stay in ``pending``, which a later run counts as told).
        """
        now = int(self.clock())
        until = now + lease_seconds
        names = {"#s": "status"}
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
        ]
        names["#o"] = "owner"
        sets += string_sets(meta, names, values)
        with converted("claim"):
            try:
                resp = self.db.update_item(
                    TableName=self.table,
                    Key={"id": {"S": item_id}},
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression=CLAIMABLE,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                )
            except ClientError as exc:
                if conditional_failed(exc):
                    return None
                raise
        attrs = resp.get("Attributes", {})
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
        try:
            if pending:  # a send whose outcome was never recorded: count its recipients as told
                self._owned_update(
                    claim,
                    "ADD sent :pending REMOVE pending, expiration",
                    {":pending": {"SS": sorted(pending)}},
                    what="keep pending",
                )
            elif sent:  # a retry after a partial send: never let TTL forget who was told
                self._owned_update(claim, "REMOVE expiration", {}, what="keep")
        except LeaseLost:  # taken over already (a lease shorter than a round trip): not ours
            return None
        except StateError:
            # The claim is ours (the first write went through): do not strand it until its
            # lease ends. The pending recipients count as told and go into `sent` with the
            # claim's next write; the item's `expiration` goes with its last write.
            return replace(claim, unmerged=pending)
        return claim

    def begin_send(self, claim: Claim, addresses: Iterable[str]) -> None:
        """Write ahead: the recipients of the send about to be made (see ``pending``).

        The claim's :attr:`~Claim.unmerged` recipients stay in ``pending`` (counted as told
        by a run that takes the item over). Idempotent (a retry writes the same set).
        """
        addrs = set(addresses)
        if addrs:
            values = {":p": {"SS": sorted(addrs | claim.unmerged)}}
            self._owned_update(claim, "SET pending = :p", values, what="begin send")

    def record_sent(self, claim: Claim, addresses: Iterable[str]) -> Claim:
        """Remember recipients already told (after each SES send of a split notice).

        Also adds the claim's :attr:`~Claim.unmerged` recipients (then none are left).
        Idempotent (adding to a set), so a retry after an ambiguous failure is safe.
        """
        addrs = sorted(set(addresses) | claim.unmerged)
        if not addrs:
            return claim
        self._owned_update(
            claim,
            "ADD sent :addrs REMOVE expiration",  # someone was told: keep the item
            {":addrs": {"SS": addrs}},
            what="record sent",
        )
        return replace(claim, sent=claim.sent | frozenset(addrs), unmerged=frozenset())

    def _owned_update(
        self,
        claim: Claim,
        expression: str,
        values: dict[str, Any],
        *,
        names: Mapping[str, str] | None = None,
        what: str,
    ) -> None:
        all_names = {"#s": "status", "#o": "owner", **(names or {})}
        all_values = {**values, ":me": {"S": claim.owner}, ":claimedst": {"S": CLAIMED}}
        with converted(what):
            try:
                self.db.update_item(
                    TableName=self.table,
                    Key={"id": {"S": claim.id}},
                    UpdateExpression=expression,
                    ConditionExpression="#o = :me AND #s = :claimedst",
                    ExpressionAttributeNames=all_names,
                    ExpressionAttributeValues=all_values,
                )
            except ClientError as exc:
                if conditional_failed(exc):
                    raise LeaseLost(
                        f"state table: {what}: the claim on {claim.id} is no longer ours (lease expired)"
                    ) from exc
                raise
