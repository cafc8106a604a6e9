"""The notification state table: one class that reads items and makes the writes of
:mod:`.updates` (built there as data), converting AWS errors where they arise."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from ..errors import StateError
from . import updates
from .items import (
    BATCH_GET_MAX,
    DEFAULT_LEASE_SECONDS,
    Claim,
    LeaseLost,
    Record,
    conditional_failed,
    converted,
    cursor_id,
    to_record,
)
from .updates import Update


class NotificationState:
    """Claims, completions and cursors in the state table."""

    def __init__(self, dynamodb: Any, table: str, *, clock: Callable[[], float] = time.time) -> None:
        self.db = dynamodb
        self.table = table
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------

    def get_many(self, ids: Iterable[str]) -> dict[str, Record]:
        """The records of ``ids`` that exist (strongly consistent BatchGetItem, 100 at a time)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX):
            for record in self._batch_get(wanted[start : start + BATCH_GET_MAX]):
                found[record.id] = record
        return found

    def _batch_get(self, ids: list[str]) -> list[Record]:
        request: dict[str, Any] = {
            self.table: {"Keys": [{"id": {"S": i}} for i in ids], "ConsistentRead": True}
        }
        records: list[Record] = []
        for attempt in range(8):
            with converted("BatchGetItem"):
                resp = self.db.batch_get_item(RequestItems=request)
            records += [to_record(item) for item in resp.get("Responses", {}).get(self.table, [])]
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                return records
            time.sleep(min(0.05 * 2**attempt, 1.0))
        raise StateError("state table: BatchGetItem left keys unprocessed after 8 attempts")

    def get(self, item_id: str) -> Record | None:
        item = self._get(item_id, "GetItem")
        return to_record(item) if item else None

    def get_cursor(self, bucket: str, prefix: str) -> str | None:
        """The key a cut-short run stopped after (list with StartAfter), or None."""
        value = self._get(cursor_id(bucket, prefix), "get cursor").get("startAfter", {}).get("S")
        return str(value) if value else None

    def _get(self, item_id: str, what: str) -> dict[str, Any]:
        with converted(what):
            resp = self.db.get_item(TableName=self.table, Key={"id": {"S": item_id}}, ConsistentRead=True)
        return dict(resp.get("Item") or {})

    # -- the claim protocol ----------------------------------------------------------------

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
        attrs = self._update(
            updates.claim(item_id, owner=owner, now=now, lease_seconds=lease_seconds, meta=meta)
        )
        if attrs is None:
            return None
        claim, pending = updates.claimed(item_id, owner, now + lease_seconds, attrs)
        follow = updates.follow_up(claim, pending)
        try:
            if follow is not None:
                self._update(follow)
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
        update = updates.begin_send(claim, addresses)
        if update is not None:
            self._update(update)

    def record_sent(self, claim: Claim, addresses: Iterable[str]) -> Claim:
        """Remember recipients already told (after each SES send of a split notice).

        Also adds the claim's :attr:`~Claim.unmerged` recipients (then none are left).
        Idempotent (adding to a set), so a retry after an ambiguous failure is safe.
        """
        addrs = sorted(set(addresses) | claim.unmerged)
        if not addrs:
            return claim
        self._update(updates.record_sent(claim, addrs))
        return replace(claim, sent=claim.sent | frozenset(addrs), unmerged=frozenset())

    def complete(
        self, claim: Claim, *, extra: Mapping[str, str] | None = None, told: Iterable[str] = ()
    ) -> None:
        """Mark the mail notified, for good (the item loses its ``expiration``).

        ``told``: recipients told whose send could not be recorded before, added to ``sent``
        (with the claim's :attr:`~Claim.unmerged` ones).
        """
        self._update(updates.complete(claim, self.clock(), extra, told))

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
        update = updates.release(
            claim, self.clock(), reason=reason, told=told, rejected=rejected, rejected_alone=rejected_alone
        )
        self._update(update)

    def settle_claim(
        self, claim: Claim, *, reason: str, told: Iterable[str] = (), rejected_alone: Iterable[str] = ()
    ) -> None:
        """Stop retrying a claimed mail (SES keeps rejecting the recipients left): ``settled``.

        Like :meth:`settle`, the item expires after 90 days, unless someone was ever told:
        then it is kept for good, so that no later run tells them again. ``told`` and
        ``rejected_alone`` as for :meth:`release`.
        """
        self._update(
            updates.settle_claim(claim, self.clock(), reason=reason, told=told, rejected_alone=rejected_alone)
        )

    # -- writes without a claim ------------------------------------------------------------

    def mark_notified(self, item_id: str, *, notified_at: str, meta: Mapping[str, str] | None = None) -> bool:
        """Record a mail as notified for good (Woomera import): its recipients were told.

        Writes over what a run may take (see :data:`~.items.CLAIMABLE`: a failed earlier
        send, a crashed run's claim), so a mail Woomera notified is never notified again.
        Returns False when the item is notified or settled already, or a live run holds it.
        """
        now = int(self.clock())
        update = updates.mark_notified(item_id, now=now, notified_at=notified_at, meta=meta)
        return self._update(update) is not None

    def settle(self, item_id: str, *, reason: str, meta: Mapping[str, str] | None = None) -> bool:
        """Record that a mail has nobody to notify (``reason``), so that runs stop reading it.

        The item expires after 90 days (then one run looks again, e.g. after a settings change).
        Returns False when the item already exists: nothing is overwritten.
        """
        item = updates.settled_item(item_id, now=self.clock(), reason=reason, meta=meta)
        with converted("settle"):
            try:
                self.db.put_item(
                    TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(id)"
                )
            except ClientError as exc:
                if conditional_failed(exc):
                    return False
                raise
        return True

    def _update(self, u: Update) -> dict[str, Any] | None:
        """Make one update; its new attributes (``{}`` unless asked), None if its condition failed
        (or LeaseLost, for a write on a claim this run held)."""
        args: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"id": {"S": u.item_id}},
            "UpdateExpression": u.expression,
            "ExpressionAttributeValues": u.values,
        }
        if u.returns != "NONE":
            args["ReturnValues"] = u.returns
        if u.names:
            args["ExpressionAttributeNames"] = u.names
        if u.condition:
            args["ConditionExpression"] = u.condition
        with converted(u.what):
            try:
                resp = self.db.update_item(**args)
            except ClientError as exc:
                if not conditional_failed(exc):
                    raise
                if u.on_condition == "lease":
                    raise LeaseLost(
                        f"state table: {u.what}: the claim on {u.item_id} is no longer ours (lease expired)"
                    ) from exc
                return None
        return dict(resp.get("Attributes") or {})
