"""The state table's items: ids, records, claims, error conversion, expression helpers."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ConfigurationError, StateError

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


CONFIG_ERRORS = {"ResourceNotFoundException", "AccessDeniedException", "UnrecognizedClientException"}


@contextmanager
def converted(what: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in CONFIG_ERRORS:  # no such table, or no permission: fix STATE_TABLE or the role
            raise ConfigurationError(f"state table (STATE_TABLE): {what}: {code}") from exc
        raise StateError(f"state table: {what}: {code or exc}") from exc
    except BotoCoreError as exc:
        raise StateError(f"state table: {what}: {type(exc).__name__}: {exc}") from exc


def conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def to_record(item: Mapping[str, Any]) -> Record:
    return Record(
        id=item["id"]["S"],
        status=item.get("status", {}).get("S", ""),
        lease_until=int(item.get("leaseUntil", {}).get("N", "0")),
        notified_at=item.get("notifiedAt", {}).get("S"),
        sent=frozenset(item.get("sent", {}).get("SS", ())),
    )


def add_set(attribute: str, addresses: Iterable[str], values: dict[str, Any]) -> list[str]:
    """The ADD action putting ``addresses`` into the string set ``attribute``, if any (DynamoDB
    refuses empty sets); its value goes into ``values``."""
    addrs = sorted(set(addresses))
    if not addrs:
        return []
    values[f":{attribute}"] = {"SS": addrs}
    return [f"{attribute} :{attribute}"]


def string_sets(attrs: Mapping[str, str] | None, names: dict[str, str], values: dict[str, Any]) -> list[str]:
    """``SET`` actions writing ``attrs`` as strings (names and values go into the two maps)."""
    actions = []
    for n, (name, value) in enumerate(sorted((attrs or {}).items())):
        names[f"#a{n}"] = name
        values[f":a{n}"] = {"S": str(value)}
        actions.append(f"#a{n} = :a{n}")
    return actions


def add_sent(told: Iterable[str], values: dict[str, Any]) -> list[str]:
    """Recipients told: into ``sent``."""
    return add_set("sent", told, values)


def add_rejected_alone(rejected_alone: Iterable[str], values: dict[str, Any]) -> list[str]:
    """Addresses SES rejected when sent to alone: into ``rejectedAlone``."""
    return add_set("rejectedAlone", rejected_alone, values)


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
