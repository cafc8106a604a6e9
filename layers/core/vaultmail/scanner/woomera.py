"""SES Woomera's ``processedEmails.json``: read it, and mark the mails it lists as notified.

The file (docs/scanner.md, "Switching from SES Woomera") maps each notified mail's key to
what Woomera recorded when it sent the notice::

    {"outbound/2024/big.eml": {"emailSent": "05-03-2024", "recipients": ["a@acme.com"]}}

Only the key and ``emailSent`` (``dd-mm-YYYY``) are used. An empty file (Woomera creates
one on its first run) and a plain JSON list of keys are accepted too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from .. import s3 as s3io
from ..errors import InvalidArguments
from ..state import NOTIFIED, SETTLED, NotificationState, notice_id

WOOMERA_MAX_BYTES = 64 << 20


@dataclass
class ImportResult:
    """``imported``: written (in a dry run: would be written); ``existing``: the state table
    knows the mail already; ``missing``: no such object any more (never counted as imported)."""

    entries: int = 0
    imported: int = 0
    existing: int = 0
    missing: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_woomera(data: bytes) -> dict[str, str | None]:
    """SES Woomera's processedEmails.json: ``{key: {"emailSent": "dd-mm-YYYY", ...}}`` -> key: ISO date.

    An empty file (Woomera creates one) is an empty dict; a plain list of keys is accepted too.
    """
    text = data.decode("utf-8-sig", errors="replace").strip()
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidArguments(f"the Woomera processed-emails file is not JSON: {exc}") from None
    if isinstance(doc, list):
        return {str(k): None for k in doc if isinstance(k, str) and k}
    if not isinstance(doc, dict):
        raise InvalidArguments("the Woomera processed-emails file is not a JSON object")
    out: dict[str, str | None] = {}
    for key, entry in doc.items():
        sent = entry.get("emailSent") if isinstance(entry, dict) else None
        out[str(key)] = _woomera_date(sent)
    return out


def _woomera_date(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    for fmt in ("%d-%m-%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), fmt).strftime("%Y-%m-%dT00:00:00Z")
        except ValueError:
            continue
    return None


def load_woomera(s3: Any, bucket: str, key: str) -> dict[str, str | None]:
    """Read and parse a Woomera processedEmails.json from the mail bucket."""
    ref = s3io.ObjectRef(bucket, key)
    try:
        meta = s3io.head(s3, ref)
    except s3io.MailGone:
        raise InvalidArguments(f"no Woomera processed-emails file at s3://{bucket}/{key}") from None
    if (meta.size or 0) > WOOMERA_MAX_BYTES:
        raise InvalidArguments(f"s3://{bucket}/{key} is over {WOOMERA_MAX_BYTES} bytes: not a Woomera file")
    body = s3io.open_body(s3, meta)
    with s3io.converted(meta):
        data = body.read()
    return parse_woomera(data)


def import_woomera(
    s3: Any,
    state: NotificationState | None,
    bucket: str,
    entries: Mapping[str, str | None],
    *,
    workers: int = 8,
    dry_run: bool = False,
) -> ImportResult:
    """Mark the objects listed by Woomera as notified, so that nobody is told twice.

    Each object is HEADed for its ETag (the state id pins the content); objects that are
    gone are counted as missing. Existing state items are never overwritten. ``dry_run``
    writes nothing: it counts what an import would do (reading the state table when given).
    """
    result = ImportResult(entries=len(entries))
    fallback = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def one(item: tuple[str, str | None]) -> str:
        key, sent = item
        try:
            meta = s3io.head(s3, s3io.ObjectRef(bucket, key))
        except s3io.MailGone:
            return "missing"
        sid = notice_id(bucket, key, meta.etag)
        if dry_run or state is None:
            record = state.get(sid) if state is not None else None
            return "existing" if record is not None and record.status in (NOTIFIED, SETTLED) else "imported"
        written = state.mark_notified(
            sid,
            notified_at=sent or fallback,
            meta={
                "source": "ses-woomera",
                "bucket": bucket,
                "key": key,
                "etag": (meta.etag or "").strip('"'),
            },
        )
        return "imported" if written else "existing"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for status in pool.map(one, entries.items()):
            setattr(result, status, getattr(result, status) + 1)
    return result
