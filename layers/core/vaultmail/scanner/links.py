"""Download links: a presigned GET of the mail, and the long-lived keys that may sign it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ConfigurationError
from ..notices import content_disposition


def sign_link(
    signer: Any,
    bucket: str,
    key: str,
    *,
    filename: str,
    expiry: int,
    version_id: str | None = None,
    etag: str = "",
    recipients: Sequence[str] = (),
) -> str:
    """The link of one notice: a presigned GET of the mail that downloads as ``<filename>``
    (message/rfc822), of ``version_id`` when the event named one.

    The one seam where a notice's link is made (:mod:`.notify` calls it once per notice):
    ``etag`` and ``recipients`` are what a link kept in the state table would record.
    ``signer`` is an S3 client configured for SigV4 (``signature_version="s3v4"``): SigV4
    links live at most 7 days, and only as long as the credentials that signed them.
    """
    del etag, recipients  # a presigned GET carries neither
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
