"""Run one Job: archive it, and sort the result into archived, rejected (permanent) or raised.

Transient errors propagate (the handler lets Lambda retry, then the dead-letter queue keeps
the event). Permanent errors become a ``rejected`` Outcome, recorded by the caller (log,
metric) and, for S3 objects, on the object as tags. The mail object itself is only read.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

from . import s3
from .archive import UploadPlan, archive
from .client import UploadClient
from .errors import UploadFailed, VaultmailError
from .headers import domain_key
from .jobs import Job
from .settings import Settings
from .source import BytesSource, MailSource, S3Source

log = logging.getLogger(__name__)

STATUS_TAG = "vaultmail-status"


@dataclass(frozen=True)
class Outcome:
    """What happened to a job; JSON-serialisable (Powertools idempotency stores it)."""

    origin: str
    status: str  # "archived" | "rejected"
    size: int | None = None
    upload_id: str | None = None
    vaults: tuple[str, ...] = ()
    reason: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        return cls(**{**data, "vaults": tuple(data.get("vaults") or ())})


def envelope_vaults(job: Job, primary_domains: tuple[str, ...]) -> tuple[str, ...]:
    """SMTP envelope recipients that are on a primary domain (the others are not vaults)."""
    keys = {domain_key(d) for d in primary_domains}
    return tuple(a for a in job.envelope_recipients if domain_key(a.rpartition("@")[2]) in keys)


class Uploader:
    """Archives jobs with one upload client and one S3 client (both reused across jobs)."""

    def __init__(self, settings: Settings, client: UploadClient, s3_client: Any) -> None:
        self.settings = settings
        self.client = client
        self.s3 = s3_client

    def pin(self, job: Job) -> Job:
        """The job with its S3 object pinned: the version or ETag the event named, else (HEAD)
        the current object's. Inline mails are returned unchanged.

        No HEAD when the event names the bytes: then a duplicate or a replay finds its stored
        outcome even if the object has been deleted or replaced since (``run`` reads the object
        pinned to that version or ETag, inside the idempotent work).
        """
        if job.s3 is None or job.s3.pin:
            return job
        return replace(job, s3=s3.head(self.s3, job.s3))

    def source(self, job: Job) -> MailSource:
        if job.s3 is not None:
            return S3Source.pinned(self.s3, job.s3)
        if job.mail is None:
            raise ValueError("a job needs mail bytes or an S3 object")
        return BytesSource(job.mail, job.origin)

    def run(self, job: Job) -> Outcome:
        size: int | None = None
        planned: list[UploadPlan] = []
        try:
            source = self.source(job)
            size = source.size
            recipients = job.recipients + envelope_vaults(job, self.settings.primary_domains)
            result = archive(
                source,
                settings=self.settings,
                client=self.client,
                recipients=recipients or None,
                sender=job.sender,
                on_plan=planned.append,
            )
        except VaultmailError as exc:
            if exc.transient:
                if isinstance(exc, UploadFailed) and planned:
                    exc.vaults = planned[0].selection.vaults
                raise
            outcome = Outcome(job.origin, "rejected", size=size, reason=exc.reason, message=exc.message)
            if not isinstance(exc, s3.MailGone):  # gone: the object at that key now is another mail
                self._tag(job, {STATUS_TAG: "rejected", "vaultmail-reason": exc.reason})
            return outcome
        outcome = Outcome(
            job.origin,
            "archived",
            size=size,
            upload_id=result.upload_id,
            vaults=result.plan.selection.vaults,
        )
        self._tag(job, {STATUS_TAG: "archived", "vaultmail-upload-id": result.upload_id})
        return outcome

    def _tag(self, job: Job, tags: dict[str, str]) -> None:
        """Tag the mail object (S3 uploader only). A tag is a record, not the archive: never fatal."""
        if job.s3 is None or not job.tag_object:
            return
        try:
            s3.tag(self.s3, job.s3, tags)
        except VaultmailError as exc:
            log.warning("could not tag %s: %s", job.s3, exc.message)
