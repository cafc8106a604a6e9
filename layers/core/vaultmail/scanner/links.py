"""Download links in notices: a :class:`LinkMaker` makes one per notice.

* :class:`TokenLinks` (``LINK_BASE_URL`` set, the deployed stack): a fresh token, its
  ``link#`` item in the state table (the version and ETag read now, the recipients, the
  expiry), and ``{LINK_BASE_URL}/m/{token}``; the download function answers each click with
  a short presigned GET of that version. Any expiry up to 90 days, revocable, counted.
* :class:`PresignedLinks` (``LINK_BASE_URL`` empty, a shell's ``vaultmail scan``): a presigned
  GET signed by the caller's credentials (or the long-lived keys of ``SIGNING_SECRET_ARN``),
  which SigV4 lets live at most 7 days: the notice states that shorter date.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .. import s3 as s3io
from ..errors import ConfigurationError
from ..links import Link, LinkTable, link_url, new_token, token_hash
from ..notices import content_disposition
from .compose import Draft, MadeLink

SIGV4_MAX_EXPIRY = 604_800  # a presigned URL lives at most 7 days


class LinkMaker(Protocol):
    """The one seam where a notice's link is made (:mod:`.notify` calls it once per notice)."""

    def make(self, draft: Draft, *, now: float) -> MadeLink:
        """One notice's link (raises StateError / StorageError when it cannot be made now)."""
        ...


class PresignedLinks:
    def __init__(self, signer: Any, expiry: int) -> None:
        self.signer = signer
        self.expiry = min(expiry, SIGV4_MAX_EXPIRY)

    def make(self, draft: Draft, *, now: float) -> MadeLink:
        url = sign_link(
            self.signer,
            draft.bucket,
            draft.key,
            filename=draft.filename,
            expiry=self.expiry,
            version_id=draft.version_id,
        )
        return MadeLink(url, now + self.expiry)


class TokenLinks:
    """Links through the download function (one token and one ``link#`` item per notice)."""

    def __init__(self, base_url: str, table: LinkTable, s3: Any, *, expiry: int, contact: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.table = table
        self.s3 = s3
        self.expiry = expiry
        self.contact = contact

    def make(self, draft: Draft, *, now: float) -> MadeLink:
        bucket, key, etag = draft.bucket, draft.key, draft.etag
        # the version of the bytes the plan decided on (If-Match: a replaced object is MailGone)
        pinned = s3io.head(self.s3, s3io.ObjectRef(bucket, key, etag=f'"{etag.strip(chr(34))}"'))
        token = new_token()
        expires_at = int(now) + self.expiry
        link = Link(
            digest=token_hash(token),
            bucket=bucket,
            key=key,
            etag=(pinned.etag or etag).strip('"'),
            version_id=pinned.version_id,
            expires_at=expires_at,
            file_name=draft.filename,
            contact=self.contact,
            recipients=draft.recipients,
            created_at=int(now),
        )
        self.table.put(link)
        return MadeLink(link_url(self.base_url, token), expires_at)


def sign_link(
    signer: Any, bucket: str, key: str, *, filename: str, expiry: int, version_id: str | None = None
) -> str:
    """A presigned GET of the mail that downloads as ``<filename>`` (message/rfc822), of
    ``version_id`` when the event named one.

    ``signer`` is an S3 client configured for SigV4 (``signature_version="s3v4"``): SigV4
    links live at most 7 days, and only as long as the credentials that signed them.
    """
    params = {
        "Bucket": bucket,
        "Key": key,
        "ResponseContentDisposition": content_disposition(filename),
        "ResponseContentType": "message/rfc822",
    }
    if version_id:
        params["VersionId"] = version_id
    try:
        return str(signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expiry))
    except (BotoCoreError, ClientError) as exc:
        raise ConfigurationError(f"cannot sign a download link: {type(exc).__name__}: {exc}") from exc


def signing_credentials(secretsmanager: Any, arn: str) -> tuple[str, str]:
    """Long-lived keys from the secret ``arn``: JSON ``{"accessKeyId": ..., "secretAccessKey": ...}``."""
    try:
        value = secretsmanager.get_secret_value(SecretId=arn)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise ConfigurationError(f"cannot read SIGNING_SECRET_ARN {arn}: {type(exc).__name__}") from exc
    try:
        data = json.loads(value)
        return str(data["accessKeyId"]), str(data["secretAccessKey"])
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(
            'the signing secret must be JSON {"accessKeyId": "...", "secretAccessKey": "..."}'
        ) from None
