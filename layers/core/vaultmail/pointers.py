"""Where an SNS message may point: ``POINTER_LOCATIONS`` (pure, no I/O).

An SNS message can carry its mail inline or point at an S3 object (a JSON envelope's ``s3``,
an SES S3-action notification's ``receipt.action.bucketName/objectKey``, an extended-client
pointer). Whoever may publish to the topic would otherwise pick any object the SNS uploader's
role can read and have it archived into the vaults of their choosing (issue 20). So a pointer
is followed only into the locations the administrator allows: each ``bucket/prefix`` of
``POINTER_LOCATIONS`` (the template sets the payload bucket and the mail bucket's
``SES_KEY_PREFIXES``); any other is an ``InvalidEvent`` (permanent: recorded, never retried)
that names the location it asked for. The SNS uploader's role may read the same locations and
nothing else, so the check and IAM agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigurationError, InvalidEvent

if TYPE_CHECKING:  # settings imports this module: no boto at import time
    from .s3 import ObjectRef


@dataclass(frozen=True)
class Location:
    """Objects of ``bucket`` whose key starts with ``prefix`` (``""``: the whole bucket)."""

    bucket: str
    prefix: str = ""

    def holds(self, ref: ObjectRef) -> bool:
        return ref.bucket == self.bucket and ref.key.startswith(self.prefix)

    def __str__(self) -> str:
        return f"{self.bucket}/{self.prefix}"


def parse_locations(entries: Iterable[str]) -> tuple[Location, ...]:
    """``bucket/prefix`` entries (``bucket`` or ``bucket/`` alone: the whole bucket)."""
    out: list[Location] = []
    for entry in entries:
        bucket, _, prefix = entry.strip().partition("/")
        if not bucket or any(c in bucket for c in "*?") or any(c in prefix for c in "*?"):
            raise ConfigurationError(
                f"POINTER_LOCATIONS entries are bucket/prefix (no wildcards), got {entry!r}"
            )
        location = Location(bucket, prefix)
        if location not in out:
            out.append(location)
    return tuple(out)


def confine(ref: ObjectRef, locations: Iterable[Location], origin: str) -> ObjectRef:
    """``ref`` if it lies under one of ``locations``, else an InvalidEvent naming it."""
    if any(location.holds(ref) for location in locations):
        return ref
    allowed = ", ".join(str(loc) for loc in locations) or "none (POINTER_LOCATIONS is empty)"
    raise InvalidEvent(
        f"{origin}: the message points at s3://{ref.bucket}/{ref.key}, outside the locations SNS "
        f"messages may point at ({allowed}); see POINTER_LOCATIONS"
    )
