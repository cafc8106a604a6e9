"""The link item in the state table (pure): what a token was made for, and its DynamoDB form.

``link#<sha256 hex>``: bucket, key, the version (where the bucket is versioned) and ETag the
scanner read, the expiry (epoch seconds), the recipients of the notice, the file name the
download gets, whom to ask (the notices' sender, NOTIFY_FROM), revoked or not, how many
downloads, when it was made; ``expiration`` (the table's TTL attribute) lets DynamoDB delete
the item :data:`RETENTION` after the link expired (until then a click says 410, not 404).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .token import ID_PREFIX, link_id

RETENTION = 30 * 24 * 3600  # an expired link's item stays this long (410 "expired", the audit)


@dataclass(frozen=True)
class Link:
    """One download link (the token itself is never stored: ``digest`` is its SHA-256)."""

    digest: str
    bucket: str
    key: str
    etag: str
    expires_at: int
    file_name: str
    contact: str
    recipients: tuple[str, ...] = ()
    version_id: str | None = None
    created_at: int = 0
    revoked: bool = False
    downloads: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        return link_id(self.digest)

    @property
    def version(self) -> str | None:
        """The version to fetch: None for an unversioned object (S3's ``"null"``)."""
        return self.version_id if self.version_id and self.version_id != "null" else None

    def state(self, now: float) -> str:
        if self.revoked:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"


def to_item(link: Link) -> dict[str, Any]:
    """The DynamoDB item (low-level attribute values)."""
    item: dict[str, Any] = {
        "id": {"S": link.id},
        "bucket": {"S": link.bucket},
        "key": {"S": link.key},
        "etag": {"S": link.etag},
        "expiresAt": {"N": str(int(link.expires_at))},
        "fileName": {"S": link.file_name},
        "contact": {"S": link.contact},
        "recipients": {"L": [{"S": r} for r in link.recipients]},
        "revoked": {"BOOL": link.revoked},
        "downloads": {"N": str(link.downloads)},
        "createdAt": {"N": str(int(link.created_at))},
        "expiration": {"N": str(int(link.expires_at) + RETENTION)},
    }
    if link.version_id:
        item["versionId"] = {"S": link.version_id}
    return item


def from_item(item: Mapping[str, Any]) -> Link:
    """A link from its item; ValueError if the item is not a link item."""
    try:
        item_id = item["id"]["S"]
        if not item_id.startswith(ID_PREFIX):
            raise ValueError(f"not a link item: {item_id[:40]}")
        return Link(
            digest=item_id[len(ID_PREFIX) :],
            bucket=item["bucket"]["S"],
            key=item["key"]["S"],
            etag=item.get("etag", {}).get("S", ""),
            expires_at=int(item["expiresAt"]["N"]),
            file_name=item.get("fileName", {}).get("S", "message.eml"),
            contact=item.get("contact", {}).get("S", ""),
            recipients=tuple(v["S"] for v in item.get("recipients", {}).get("L", [])),
            version_id=item.get("versionId", {}).get("S") or None,
            created_at=int(item.get("createdAt", {}).get("N", "0")),
            revoked=bool(item.get("revoked", {}).get("BOOL", False)),
            downloads=int(item.get("downloads", {}).get("N", "0")),
            extra={k: v for k, v in item.items() if k in ("revokedAt", "lastDownloadAt")},
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a link item without {exc}") from None
