"""The notification state table: reads, and the writes made without a claim."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..errors import StateError
from .endings import ClaimEndings
from .items import (
    BATCH_GET_MAX,
    CLAIM_RETENTION,
    CLAIMABLE,
    CLAIMED,
    FAILED,
    NOTIFIED,
    SETTLED,
    Record,
    conditional_failed,
    converted,
    cursor_id,
    iso,
    string_sets,
    to_record,
)


class NotificationState(ClaimEndings):
    """Claims, completions and cursors in the state table."""

    # -- reading ---------------------------------------------------------------------------

    def get_many(self, ids: Iterable[str]) -> dict[str, Record]:
        """The records of ``ids`` that exist (strongly consistent BatchGetItem, 100 at a time)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [{"id": {"S": i}} for i in wanted[start : start + BATCH_GET_MAX]],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(8):
                with converted("BatchGetItem"):
                    resp = self.db.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    record = to_record(item)
                    found[record.id] = record
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                raise StateError("state table: BatchGetItem left keys unprocessed after 8 attempts")
        return found

    def get(self, item_id: str) -> Record | None:
        with converted("GetItem"):
            item = self.db.get_item(TableName=self.table, Key={"id": {"S": item_id}}, ConsistentRead=True)
        return to_record(item["Item"]) if "Item" in item else None

    def mark_notified(self, item_id: str, *, notified_at: str, meta: Mapping[str, str] | None = None) -> bool:
        """Record a mail as notified for good (Woomera import): its recipients were told.

        Writes over what a run may take (see :data:`CLAIMABLE`: a failed earlier send, a
        crashed run's claim), so a mail Woomera notified is never notified again. Returns
        False when the item is notified or settled already, or a live run holds it.
        """
        now = int(self.clock())
        names = {"#s": "status", "#o": "owner"}
        values: dict[str, Any] = {
            ":notified": {"S": NOTIFIED},
            ":at": {"S": notified_at},
            ":claimed": {"S": CLAIMED},
            ":failed": {"S": FAILED},
            ":now": {"N": str(now)},
        }
        sets = ["#s = :notified", "notifiedAt = :at"]
        sets += string_sets(meta, names, values)
        with converted("mark notified"):
            try:
                self.db.update_item(
                    TableName=self.table,
                    Key={"id": {"S": item_id}},
                    UpdateExpression="SET " + ", ".join(sets) + " REMOVE pending, expiration, leaseUntil, #o",
                    ConditionExpression=CLAIMABLE,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            except ClientError as exc:
                if conditional_failed(exc):
                    return False
                raise
        return True

    def settle(self, item_id: str, *, reason: str, meta: Mapping[str, str] | None = None) -> bool:
        """Record that a mail has nobody to notify (``reason``), so that runs stop reading it.

        The item expires after 90 days (then one run looks again, e.g. after a settings change).
        Returns False when the item already exists: nothing is overwritten.
        """
        now = self.clock()
        item: dict[str, Any] = {
            "id": {"S": item_id},
            "status": {"S": SETTLED},
            "reason": {"S": reason},
            "settledAt": {"S": iso(now)},
            "expiration": {"N": str(int(now) + CLAIM_RETENTION)},
        }
        for name, value in (meta or {}).items():
            item[name] = {"S": str(value)}
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

    # -- cursors ---------------------------------------------------------------------------

    def get_cursor(self, bucket: str, prefix: str) -> str | None:
        """The key a cut-short run stopped after (list with StartAfter), or None."""
        with converted("get cursor"):
            item = self.db.get_item(
                TableName=self.table, Key={"id": {"S": cursor_id(bucket, prefix)}}, ConsistentRead=True
            )
        value = item.get("Item", {}).get("startAfter", {}).get("S")
        return str(value) if value else None
