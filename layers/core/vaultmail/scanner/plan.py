"""The pure plan: what to do with each object of one listing page. No I/O.

Given a page of an S3 listing (or the one object of an arrival event), what the state table
says about its oversize objects, and the prefix's watermark (see :mod:`.listing`),
:func:`plan` decides each object's action. The listing order and the deadline helpers live
here too, so that every decision a run makes can be unit-tested without a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..state.items import NOTIFIED, SETTLED, Record, notice_id

COLD_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}  # a ranged GET needs a restore first

Action = Literal["ignore", "small", "cold", "seen", "notified", "settled", "busy", "notify"]


@dataclass(frozen=True)
class Listed:
    """One object of an S3 listing (``last_modified``: epoch seconds, 0 when unknown;
    ``version_id``: where an event names it, for the notice's link)."""

    key: str
    size: int
    etag: str = ""
    storage_class: str = "STANDARD"
    last_modified: float = 0.0
    version_id: str | None = None

    @classmethod
    def from_s3(cls, item: Mapping[str, Any]) -> Listed:
        modified = item.get("LastModified")
        return cls(
            key=str(item["Key"]),
            size=int(item.get("Size", 0)),
            etag=str(item.get("ETag", "")),
            storage_class=str(item.get("StorageClass") or "STANDARD"),
            last_modified=modified.timestamp() if isinstance(modified, datetime) else 0.0,
        )


@dataclass(frozen=True)
class Decision:
    obj: Listed
    action: Action
    state_id: str | None = None


def matches(key: str, suffixes: Sequence[str]) -> bool:
    """A mail object: not a folder marker, and ends with one of ``suffixes`` (any case; none: all)."""
    if key.endswith("/"):
        return False
    if not suffixes:
        return True
    lowered = key.lower()
    return any(lowered.endswith(s.lower()) for s in suffixes)


def received_by_ses(key: str, ses_prefixes: Sequence[str]) -> bool:
    """Under one of ``SES_KEY_PREFIXES``: mail an SES receipt rule wrote, so mail SES received,
    hence delivered. Never scanned, whatever its size (the scanner is for mail SES never sent)."""
    return any(key.startswith(p) for p in ses_prefixes if p)


def in_prefixes(key: str, prefixes: Sequence[str]) -> bool:
    """Under one of the scanned prefixes (none, or an empty one: the whole bucket)."""
    return not prefixes or any(key.startswith(p) for p in prefixes)


def is_oversize(obj: Listed, threshold: int) -> bool:
    return obj.size >= threshold


def before(obj: Listed, watermark: float | None) -> bool:
    """Decided by an earlier completed sweep: modified before the prefix's watermark."""
    return watermark is not None and 0 < obj.last_modified < watermark


def _candidate(
    obj: Listed, suffixes: Sequence[str], threshold: int, watermark: float | None, skip: Sequence[str]
) -> bool:
    return (
        matches(obj.key, suffixes)
        and not received_by_ses(obj.key, skip)
        and is_oversize(obj, threshold)
        and obj.storage_class not in COLD_CLASSES
        and not before(obj, watermark)
    )


def candidate_ids(
    objects: Iterable[Listed],
    *,
    bucket: str,
    suffixes: Sequence[str],
    threshold: int,
    watermark: float | None = None,
    skip_prefixes: Sequence[str] = (),
) -> list[str]:
    """The state ids to look up for a listing page: its oversize mail objects after the watermark
    (none under ``skip_prefixes``, the SES_KEY_PREFIXES: see :func:`received_by_ses`)."""
    return [
        notice_id(bucket, o.key, o.etag)
        for o in objects
        if _candidate(o, suffixes, threshold, watermark, skip_prefixes)
    ]


def plan(
    objects: Iterable[Listed],
    *,
    bucket: str,
    suffixes: Sequence[str],
    threshold: int,
    records: Mapping[str, Record],
    now: float,
    assume_notified: Container[str] = frozenset(),
    watermark: float | None = None,
    skip_prefixes: Sequence[str] = (),
) -> list[Decision]:
    """What to do with each object of a listing page, in listing order.

    ``ignore``: not a mail object (folder marker, other suffix), or mail SES received (under
    ``skip_prefixes``, the SES_KEY_PREFIXES); ``small``: under the
    threshold; ``cold``: oversize but in an archive storage class; ``seen``: modified
    before ``watermark``, so an earlier completed sweep decided it (no state lookup);
    ``notified``: the state table (or ``assume_notified``, keys from a Woomera file in a dry
    run) says it is done; ``settled``: an earlier run found nobody to notify (no recipient,
    not a mail); ``busy``: another run holds an unexpired claim; ``notify``: to be notified
    now (new, a failed earlier attempt, or a claim whose lease expired).
    """
    out: list[Decision] = []
    for obj in objects:
        if not matches(obj.key, suffixes) or received_by_ses(obj.key, skip_prefixes):
            out.append(Decision(obj, "ignore"))
        elif not is_oversize(obj, threshold):
            out.append(Decision(obj, "small"))
        elif obj.storage_class in COLD_CLASSES:
            out.append(Decision(obj, "cold"))
        elif before(obj, watermark):
            out.append(Decision(obj, "seen"))
        else:
            sid = notice_id(bucket, obj.key, obj.etag)
            out.append(Decision(obj, _state_action(records.get(sid), obj.key in assume_notified, now), sid))
    return out


def _state_action(record: Record | None, assumed: bool, now: float) -> Action:
    if assumed or (record is not None and record.status == NOTIFIED):
        return "notified"
    if record is not None and record.status == SETTLED:
        return "settled"
    if record is not None and record.busy(now):
        return "busy"
    return "notify"


def distinct_prefixes(prefixes: Sequence[str]) -> tuple[str, ...]:
    """Each prefix once, leaving out those inside another (``mail/2025/`` when ``mail/`` is there)."""
    unique = list(dict.fromkeys(prefixes or ("",)))
    return tuple(p for p in unique if not any(p != q and p.startswith(q) for q in unique))


def prefix_order(prefixes: Sequence[str], cursors: Mapping[str, str | None]) -> list[str]:
    """Prefixes with a cursor (a run stopped inside them) first, then the others, each once."""
    unique = distinct_prefixes(prefixes)
    return [p for p in unique if cursors.get(p)] + [p for p in unique if not cursors.get(p)]


def out_of_time(remaining_ms: Callable[[], int] | None, margin_ms: int) -> bool:
    return remaining_ms is not None and remaining_ms() < margin_ms
