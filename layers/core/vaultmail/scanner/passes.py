"""DynamoDB adapter for sweep passes: the cursor of a pass cut short, and the prefix's watermark.

One item per scanned prefix, ``cursor#<bucket>#<prefix>`` (:func:`~vaultmail.state.cursor_id`):

``startAfter``
    The last key a cut invocation finished; the next one lists with ``StartAfter`` (so no
    finished page is listed again). Absent between passes.
``passStartedAt``, ``openBefore``
    When the pass began (epoch seconds), and the LastModified of the oldest oversize mail the
    pass left undecided so far (failed, deferred, claimed by another run): carried over cuts.
``watermark``, ``rule``
    Written when a pass ends: every oversize mail modified before ``watermark`` is decided
    (notified or settled) under the settings fingerprinted in ``rule``, so later sweeps skip
    such objects without a state lookup. ``watermark = min(passStartedAt - margin,
    openBefore)``: the margin covers an object whose upload began before the pass and ended
    after the listing went past its key.

The item expires after 30 days without a pass (then a sweep looks everything up once more).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..state import converted, cursor_id

PASS_RETENTION = 30 * 24 * 3600


@dataclass(frozen=True)
class SweepPass:
    """What the table says about one prefix's sweeps."""

    prefix: str
    start_after: str | None = None
    started_at: float | None = None
    open_before: float | None = None
    watermark: float | None = None
    rule: str = ""

    def watermark_for(self, rule: str) -> float | None:
        """The watermark, if it was made under the same settings (else: look everything up)."""
        return self.watermark if self.watermark is not None and self.rule == rule else None


def _number(item: dict[str, Any], name: str) -> float | None:
    value = item.get(name, {}).get("N")
    return float(value) if value is not None else None


class SweepPasses:
    """Cursors and watermarks in the state table (one GetItem per prefix and invocation)."""

    def __init__(self, dynamodb: Any, table: str, *, clock: Any = time.time) -> None:
        self.db = dynamodb
        self.table = table
        self.clock = clock

    def get(self, bucket: str, prefix: str) -> SweepPass:
        with converted("get cursor"):
            resp = self.db.get_item(
                TableName=self.table, Key={"id": {"S": cursor_id(bucket, prefix)}}, ConsistentRead=True
            )
        item = resp.get("Item", {})
        return SweepPass(
            prefix=prefix,
            start_after=item.get("startAfter", {}).get("S") or None,
            started_at=_number(item, "passStartedAt"),
            open_before=_number(item, "openBefore"),
            watermark=_number(item, "watermark"),
            rule=item.get("rule", {}).get("S", ""),
        )

    def cut(
        self, bucket: str, prefix: str, start_after: str, *, started_at: float, open_before: float | None
    ) -> None:
        """A pass stopped after ``start_after``: the next invocation resumes there (the watermark stays)."""
        values: dict[str, Any] = {
            ":k": {"S": start_after},
            ":s": {"N": repr(started_at)},
            ":exp": {"N": str(int(self.clock()) + PASS_RETENTION)},
        }
        sets = ["startAfter = :k", "passStartedAt = :s", "expiration = :exp"]
        if open_before is not None:
            values[":o"] = {"N": repr(open_before)}
            sets.append("openBefore = :o")
        expression = "SET " + ", ".join(sets) + ("" if open_before is not None else " REMOVE openBefore")
        old = self._update(bucket, prefix, expression, values, what="set cursor")
        self._keep_lowest(bucket, prefix, old, started_at, open_before, "openBefore")

    def finish(self, bucket: str, prefix: str, *, started_at: float, watermark: float, rule: str) -> None:
        """A pass over the whole prefix ended: record its watermark, drop the cursor."""
        values = {
            ":w": {"N": repr(watermark)},
            ":r": {"S": rule},
            ":exp": {"N": str(int(self.clock()) + PASS_RETENTION)},
        }
        expression = (
            "SET watermark = :w, #r = :r, expiration = :exp REMOVE startAfter, passStartedAt, openBefore"
        )
        old = self._update(bucket, prefix, expression, values, names={"#r": "rule"}, what="finish pass")
        self._keep_lowest(bucket, prefix, old, started_at, watermark, "watermark")

    def _keep_lowest(
        self, bucket: str, prefix: str, old: dict[str, Any], started_at: float, ours: float | None, name: str
    ) -> None:
        """An overlapping sweep of the same pass (the schedule firing during a continued pass) may
        have recorded an older undecided mail than this one saw: keep the lower bound. Lowering
        is always safe (it only costs lookups), so this second write needs no condition."""
        theirs = _number(old, "openBefore")
        if (
            theirs is None
            or _number(old, "passStartedAt") != started_at
            or (ours is not None and theirs >= ours)
        ):
            return
        self._update(
            bucket, prefix, f"SET {name} = :low", {":low": {"N": repr(theirs)}}, what="keep the lower bound"
        )

    def _update(
        self,
        bucket: str,
        prefix: str,
        expression: str,
        values: dict[str, Any],
        *,
        names: dict[str, str] | None = None,
        what: str,
    ) -> dict[str, Any]:
        """One UpdateItem of the prefix's item; the item as it was before (to merge with)."""
        extra: dict[str, Any] = {"ExpressionAttributeNames": names} if names else {}
        with converted(what):
            resp = self.db.update_item(
                TableName=self.table,
                Key={"id": {"S": cursor_id(bucket, prefix)}},
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
                **extra,
            )
        return dict(resp.get("Attributes") or {})
