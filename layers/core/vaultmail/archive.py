"""Archiving a mail: plan (pure) then execute (the client does the I/O).

``plan_upload`` turns what is known of a mail (headers, size, digest) and the caller's
``-r``/``-s`` into the step-1 request; ``archive`` runs the whole job for one source;
``upload_mail`` is the SDK's "Method 2" function for Python callers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from . import api
from .client import Progress, UploadClient
from .errors import MailTooLarge
from .headers import MailHeaders
from .secrets import api_key
from .settings import MAX_MAIL_BYTES, Settings, get_settings
from .source import MailSource, discard, from_any
from .vaults import Selection, select_vaults


@dataclass(frozen=True)
class UploadPlan:
    """What will be sent where, decided before any request."""

    headers: MailHeaders
    selection: Selection
    request: api.UploadRequest


@dataclass(frozen=True)
class ArchiveResult:
    upload_id: str
    plan: UploadPlan


def check_size(size: int) -> None:
    if size > MAX_MAIL_BYTES:
        raise MailTooLarge(
            f"the mail is {size} bytes; the Active Store accepts at most {MAX_MAIL_BYTES} (50 MB)"
        )


def plan_upload(
    headers: MailHeaders,
    selection: Selection,
    *,
    size: int,
    sha256: str,
) -> UploadPlan:
    """The step-1 request for a mail whose vaults are chosen. Raises MailTooLarge."""
    check_size(size)
    request = api.UploadRequest(
        domains=selection.domains,
        vaults=selection.vaults,
        sender=selection.sender,
        size=size,
        sha256=sha256,
        message_id=headers.message_id,
    )
    return UploadPlan(headers=headers, selection=selection, request=request)


def prepare(
    source: MailSource,
    settings: Settings,
    *,
    recipients: str | Sequence[str] | None = None,
    sender: str | Sequence[str] | None = None,
) -> UploadPlan:
    """Read what the plan needs from ``source``: size, then headers, then (last) the digest.

    The order fails fast: an oversize mail costs no read, a mail with no vault costs only
    its header block. Raises MailTooLarge, NotAMail, InvalidRecipient, NoPrimaryDomainRecipient.
    """
    check_size(source.size)
    headers = source.headers()
    selection = select_vaults(headers, settings.primary_domains, recipients=recipients, sender=sender)
    return plan_upload(headers, selection, size=source.size, sha256=source.sha256())


def archive(
    source: MailSource,
    *,
    settings: Settings,
    client: UploadClient,
    recipients: str | Sequence[str] | None = None,
    sender: str | Sequence[str] | None = None,
    progress: Progress | None = None,
    on_plan: Callable[[UploadPlan], None] | None = None,
) -> ArchiveResult:
    """Archive one mail: plan, then step 1 and step 2. Raises errors of ``vaultmail.errors``."""
    plan = prepare(source, settings, recipients=recipients, sender=sender)
    if on_plan is not None:
        on_plan(plan)
    ticket = client.upload(plan.request, source, progress)
    return ArchiveResult(upload_id=ticket.upload_id, plan=plan)


def upload_mail(
    mail: str | bytes | os.PathLike[str] | IO[bytes],
    recipients: str | Sequence[str] | None = None,
    sender: str | Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    client: UploadClient | None = None,
) -> str:
    """Upload one mail (text, bytes, a path or a binary stream); returns the upload id.

    The SDK's ``uploadMailToVaultasticActiveStore(message)`` for Python callers, with its
    ``-r``/``-s`` as ``recipients``/``sender``. Settings come from the environment
    (PRIMARY_DOMAIN, API_ENDPOINT_URL, API_KEY or API_KEY_SECRET_ARN). Errors are
    ``vaultmail.errors.VaultmailError`` subclasses whose ``exit_code`` is the SDK's.
    """
    settings = settings or get_settings()
    settings.require("primary_domains", "api_endpoint_url")
    client = client or UploadClient.from_settings(settings, api_key(settings))
    source = from_any(mail)
    try:
        return archive(
            source, settings=settings, client=client, recipients=recipients, sender=sender
        ).upload_id
    finally:
        discard(source)  # only removes a spooled copy
