"""DynamoDB adapter for the scanner's notification state. Takes its client as argument.

The table is the one the uploaders use for Powertools idempotency (partition key ``id`` (S),
TTL attribute ``expiration`` (N, epoch seconds)); the scanner's items have their own id
prefixes so they never meet Powertools' items:

``notice#<bucket>#<key>#<etag>``
    One oversize mail. ``status`` is ``claimed`` while a run sends its notice (``owner``,
    ``leaseUntil``: a claim whose lease has passed belongs to a crashed run and may be taken
    over), ``failed`` after a send failed (the next run retries), ``notified`` once every
    recipient was told (kept for good: no ``expiration``, so nobody is told twice),
    ``settled`` when there is nobody to tell (no recipient, or not a mail) or SES kept
    rejecting the recipients left (``rejections`` runs, see :data:`MAX_REJECTED_RUNS`):
    later runs do not read it again, until its ``expiration`` (90 days) lets a run look at
    it once more; a settled item whose ``sent`` set is not empty never expires (its
    recipients must not be told twice).
    ``sent`` (a string set) holds the recipients already told, so that a retry after a
    partial send (a mail with more than 50 recipients) tells only the others.
    ``rejectedAlone`` (a string set) holds the recipients SES rejected in a send to them
    alone (one recipient), in any run: later runs send to them apart, after the others.
    ``rejections`` counts the runs that ended with nobody left but such recipients.
    ``pending`` (a string set) is written before each SES send with the recipients of that
    send (write-ahead): it is cleared by the release, completion or settling that ends the
    claim. A ``pending`` set still there when a run claims the item belongs to a run that
    crashed, or could not record an accepted send, between the send and its record: SES may
    have accepted it, so the claim counts those recipients as told (at most once: nobody is
    told twice, at the price of at most one send's recipients never hearing, in a crash).
``cursor#<bucket>#<prefix>``
    A sweep pass of one prefix: where an invocation cut short stopped listing
    (``startAfter``), and the prefix's watermark (written by :mod:`vaultmail.scanner.passes`).

Every write that matters is conditional, so overlapping runs cannot both claim a mail.
AWS errors are converted here, where they arise: a missing table or a refused permission is a
:class:`~vaultmail.errors.ConfigurationError`, anything else a (transient) ``StateError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ConfigurationError, StateError

CLAIMED = "claimed"
FAILED = "failed"
NOTIFIED = "notified"
SETTLED = "settled"
# An item a run may take: unknown, a failed earlier send, or a claim whose run crashed.
CLAIMABLE = "attribute_not_exists(id) OR #s = :failed OR (#s = :claimed AND leaseUntil < :now)"
DEFAULT_LEASE_SECONDS = 1800  # longer than any Lambda invocation (900 s) plus a margin
MAX_REJECTED_RUNS = 5  # runs in which SES rejected recipients of a mail before it is settled
CLAIM_RETENTION = 90 * 24 * 3600  # TTL of a claim or failed item (refreshed by each claim)
BATCH_GET_MAX = 100


class LeaseLost(StateError):
    """Our claim was taken over by another run (our lease had expired): stop working on it."""

    reason = "LeaseLost"
    transient = False


def notice_id(bucket: str, key: str, etag: str | None) -> str:
    """The state item id of one mail object (its ETag pins the content)."""
    return f"notice#{bucket}#{key}#{(etag or '').strip(chr(34))}"


def cursor_id(bucket: str, prefix: str) -> str:
    return f"cursor#{bucket}#{prefix}"


@dataclass(frozen=True)
class Record:
    """What the table says about one mail."""

    id: str
    status: str
    lease_until: int = 0
    notified_at: str | None = None
    sent: frozenset[str] = frozenset()

    def busy(self, now: float) -> bool:
        """Claimed by a run whose lease has not expired yet."""
        return self.status == CLAIMED and self.lease_until > now


@dataclass(frozen=True)
class Claim:
    """A claim this run holds on one mail."""

    id: str
    owner: str
    lease_until: int
    attempts: int = 1
    sent: frozenset[str] = field(default_factory=frozenset)
    rejections: int = 0  # earlier runs that ended with nobody left but recipients SES rejected alone
    rejected_alone: frozenset[str] = field(default_factory=frozenset)  # SES rejected a send to each alone
    # counted as told (in ``sent``) but still only in the item's ``pending``: the claim's
    # follow-up write failed; the next write that can (record, end of the claim) adds them
    unmerged: frozenset[str] = field(default_factory=frozenset)


_CONFIG = {"ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException"}


@contextmanager
def converted(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _CONFIG:  # no such table, or no permission: fix STATE_TABLE or the role
            raise ConfigurationError(f"state table (STATE_TABLE): {what}: {code}") from exc
        raise StateError(f"state table: {what}: {code or exc}") from exc
    except BotoCoreError as exc:
        raise StateError(f"state table: {what}: {type(exc).__name__}: {exc}") from exc


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _record(item: Mapping[str, Any]) -> Record:
    return Record(
        id=item["id"]["S"],
        status=item.get("status", {}).get("S", ""),
        lease_until=int(item.get("leaseUntil", {}).get("N", "0")),
        notified_at=item.get("notifiedAt", {}).get("S"),
        sent=frozenset(item.get("sent", {}).get("SS", ())),
    )


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
                    record = _record(item)
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
        return _record(item["Item"]) if "Item" in item else None

    # -- claims ----------------------------------------------------------------------------

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
            ":at": {"S": _iso(now)},
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
        sets += _string_sets(meta, names, values)
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
                if _conditional_failed(exc):
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

    def complete(
        self, claim: Claim, *, extra: Mapping[str, str] | None = None, told: Iterable[str] = ()
    ) -> None:
        """Mark the mail notified, for good (the item loses its ``expiration``).

        ``told``: recipients told whose send could not be recorded before, added to ``sent``
        (with the claim's :attr:`~Claim.unmerged` ones).
        """
        values: dict[str, Any] = {":notified": {"S": NOTIFIED}, ":at": {"S": _iso(self.clock())}}
        names: dict[str, str] = {}
        sets = ["#s = :notified", "notifiedAt = :at"]
        sets += _string_sets(extra, names, values)
        adds = _adds({*told, *claim.unmerged}, values)
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
            ":at": {"S": _iso(self.clock())},
        }
        adds = _adds(addrs, values) + _adds_alone(rejected_alone, values)
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
            ":at": {"S": _iso(now)},
        }
        sets = ["#s = :settled", "#why = :why", "settledAt = :at"]
        removed = ["pending", "leaseUntil", "#o"]
        if claim.sent or addrs:
            removed.append("expiration")
        else:
            values[":exp"] = {"N": str(int(now) + CLAIM_RETENTION)}
            sets.append("expiration = :exp")
        adds = _adds(addrs, values) + _adds_alone(rejected_alone, values)
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
                if _conditional_failed(exc):
                    raise LeaseLost(
                        f"state table: {what}: the claim on {claim.id} is no longer ours (lease expired)"
                    ) from exc
                raise

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
        sets += _string_sets(meta, names, values)
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
                if _conditional_failed(exc):
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
            "settledAt": {"S": _iso(now)},
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
                if _conditional_failed(exc):
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


def _add_set(attribute: str, addresses: Iterable[str], values: dict[str, Any]) -> list[str]:
    """The ADD action putting ``addresses`` into the string set ``attribute``, if any (DynamoDB
    refuses empty sets); its value goes into ``values``."""
    addrs = sorted(set(addresses))
    if not addrs:
        return []
    values[f":{attribute}"] = {"SS": addrs}
    return [f"{attribute} :{attribute}"]


def _string_sets(
    attrs: Mapping[str, str] | None, names: dict[str, str], values: dict[str, Any]
) -> list[str]:
    """``SET`` actions writing ``attrs`` as strings (names and values go into the two maps)."""
    actions = []
    for n, (name, value) in enumerate(sorted((attrs or {}).items())):
        names[f"#a{n}"] = name
        values[f":a{n}"] = {"S": str(value)}
        actions.append(f"#a{n} = :a{n}")
    return actions


def _adds(told: Iterable[str], values: dict[str, Any]) -> list[str]:
    """Recipients told: into ``sent``."""
    return _add_set("sent", told, values)


def _adds_alone(rejected_alone: Iterable[str], values: dict[str, Any]) -> list[str]:
    """Addresses SES rejected when sent to alone: into ``rejectedAlone``."""
    return _add_set("rejectedAlone", rejected_alone, values)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


__all__ = [
    "CLAIMED",
    "DEFAULT_LEASE_SECONDS",
    "FAILED",
    "MAX_REJECTED_RUNS",
    "NOTIFIED",
    "SETTLED",
    "Claim",
    "LeaseLost",
    "NotificationState",
    "Record",
    "converted",
    "cursor_id",
    "notice_id",
]
