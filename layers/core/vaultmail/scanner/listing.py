"""S3 adapter: the pages of one prefix's listing (ListObjectsV2, ``PAGE_SIZE`` keys a page)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import s3 as s3io
from ..errors import ConfigurationError
from .plan import Listed

PAGE_SIZE = 1000


def pages(s3: Any, bucket: str, prefix: str, start_after: str | None) -> Iterator[list[Listed]]:
    """The objects under ``prefix`` after ``start_after``, a page at a time (lazily fetched)."""
    args: dict[str, Any] = {"Bucket": bucket, "PaginationConfig": {"PageSize": PAGE_SIZE}}
    if prefix:
        args["Prefix"] = prefix
    if start_after:
        args["StartAfter"] = start_after
    paginator = s3.get_paginator("list_objects_v2")
    where = f"s3://{bucket}/{prefix}"
    try:
        with s3io.converted(where):
            for page in paginator.paginate(**args):
                yield [Listed.from_s3(item) for item in page.get("Contents", [])]
    except (s3io.MailGone, s3io.AccessDenied) as exc:  # no such bucket, or no right to list it
        raise ConfigurationError(f"cannot list {where}: {exc.message}") from exc
