"""A click on a link, answered: look the token's hash up, decide, presign (I/O through the
clients given; the decision itself is :func:`~.resolve.resolve`).

``answer(method, path, links=..., s3=..., now=...)`` -> :class:`Answer` (status, headers,
body, and what to log). GET and HEAD of ``/m/{token}`` only: another method is 405, another
path 404. HEAD gets the same status and headers as GET, without a body, and is not counted:
mail security scanners (Outlook Safe Links, Gmail) pre-fetch links, often with HEAD.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..errors import VaultmailError
from ..notices import content_disposition
from ..s3 import MailGone, ObjectRef, converted
from .pages import COMMON_HEADERS, PAGE_HEADERS, page
from .resolve import NOT_FOUND, Decision, replaced, resolve
from .store import LinkTable
from .token import short, token_from_path, token_hash

PRESIGN_SECONDS = 300  # the Location's lifetime: long enough to start the download, no more
METHODS = ("GET", "HEAD")
REFUSALS = (404, 405, 410)

log = logging.getLogger("vaultmail.links")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str = ""
    reason: str = ""
    digest: str | None = None  # the token's hash (logged as a prefix only)
    log: dict[str, Any] = field(default_factory=dict)

    @property
    def download(self) -> bool:
        """A GET answered with the redirect (whether or not the item's counter was updated)."""
        return self.log.get("download", False) is True

    @property
    def refused(self) -> bool:
        """A request the link refused (404, 405, 410): not a HEAD, not an outage (503)."""
        return self.log.get("method") != "HEAD" and self.status in REFUSALS


def presign(s3: Any, decision: Decision, expires_in: int = PRESIGN_SECONDS) -> str:
    """A presigned GET of exactly the link's version, downloading as its file name."""
    link = decision.link
    assert link is not None
    params = {
        "Bucket": link.bucket,
        "Key": link.key,
        "ResponseContentDisposition": content_disposition(link.file_name),
        "ResponseContentType": "message/rfc822",
    }
    if link.version:
        params["VersionId"] = link.version
    return str(s3.generate_presigned_url("get_object", Params=params, ExpiresIn=min(expires_in, 300)))


def still_there(s3: Any, decision: Decision) -> bool:
    """An unversioned object cannot be pinned in a presigned GET: check its ETag is the link's."""
    link = decision.link
    assert link is not None
    if link.version or not link.etag:
        return True
    ref = ObjectRef(link.bucket, link.key, etag=f'"{link.etag}"')
    try:
        with converted(ref):
            s3.head_object(Bucket=link.bucket, Key=link.key, IfMatch=ref.etag)
    except MailGone:
        return False
    return True


def count(links: LinkTable, digest: str, now: float) -> bool:
    """Add one to the link's downloads; the redirect is the contract, the counter bookkeeping:
    a failing table is logged (without the token) and the download goes on."""
    try:
        links.count_download(digest, now)
    except VaultmailError as exc:
        log.warning(
            "download not counted", extra={"hash": short(digest), "reason": exc.reason, "error": exc.message}
        )
        return False
    return True


def refused(decision: Decision, method: str, digest: str | None = None) -> Answer:
    body = page(decision) if method == "GET" else ""
    return Answer(decision.status, dict(PAGE_HEADERS), body, decision.reason, digest)


def answer(method: str, path: str, *, links: LinkTable, s3: Any, now: float) -> Answer:
    """The function URL's answer to one request (see the module's doc)."""
    method = method.upper()
    token = token_from_path(path)
    if method not in METHODS:
        out = refused(Decision(405, "method"), "GET")
        out.headers["Allow"] = ", ".join(METHODS)
        out.log["method"] = method
        return out
    if token is None:
        out = refused(Decision(NOT_FOUND, "unknown"), method)
        out.log["method"] = method
        return out
    digest = token_hash(token)
    decision = resolve(links.get(digest), now)
    if decision.ok and not still_there(s3, decision):
        decision = replaced(decision.link)  # type: ignore[arg-type]
    if not decision.ok:
        out = refused(decision, method, digest)
    else:
        location = presign(s3, decision)
        out = Answer(302, {**COMMON_HEADERS, "Location": location}, "", "ok", digest)
        if method == "GET":
            out.log["download"] = True
            out.log["counted"] = count(links, digest, now)
    link = decision.link
    out.log.update(
        method=method,
        hash=short(digest),
        key=link.key if link else None,
        version=link.version_id if link else None,
        status=out.status,
        reason=out.reason,
    )
    return out
