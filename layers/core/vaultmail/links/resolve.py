"""What a click on a link gets (pure): a redirect to the mail, or why not.

``resolve(link, now)``: the link item (None: no such token) and the time -> a
:class:`Decision` with the HTTP status and the reason logged and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from .item import Link

REDIRECT, NOT_FOUND, GONE = 302, 404, 410


@dataclass(frozen=True)
class Decision:
    status: int
    reason: str  # ok | unknown | expired | revoked | replaced
    link: Link | None = None

    @property
    def ok(self) -> bool:
        return self.status == REDIRECT


def resolve(link: Link | None, now: float) -> Decision:
    if link is None:
        return Decision(NOT_FOUND, "unknown")
    if link.revoked:
        return Decision(GONE, "revoked", link)
    if now >= link.expires_at:
        return Decision(GONE, "expired", link)
    return Decision(REDIRECT, "ok", link)


def replaced(link: Link) -> Decision:
    """The unversioned object at the link's key is no longer the mail it was made for."""
    return Decision(GONE, "replaced", link)
