"""S3 adapter: one oversize mail's header block (64 KiB ranged GETs, grown only for a longer block)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import s3 as s3io
from ..errors import NotAMail, StorageError
from ..headers import MailHeaders, parse_header_block
from .plan import Listed


@dataclass(frozen=True)
class HeadRead:
    """The header block read (``headers``), or why not (``error``); ``read``: bytes fetched."""

    headers: MailHeaders | None
    read: int
    error: StorageError | NotAMail | None = None


def read_head(s3: Any, bucket: str, obj: Listed) -> HeadRead:
    """Read and parse the header block; never raises a StorageError or NotAMail (returned)."""
    ref = s3io.ObjectRef(bucket, obj.key, etag=obj.etag or None, size=obj.size)
    read = 0
    try:
        block, truncated, read = s3io.read_head_bytes(s3, ref)
        return HeadRead(parse_header_block(block, truncated=truncated), read)
    except (NotAMail, StorageError) as exc:
        return HeadRead(None, read, exc)
