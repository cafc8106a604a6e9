"""Upload slots and storage: what step 1 hands out, what step 2 is checked against, and the
objects it stores into the S3 emulator (moto).

An upload is one Idempotency-Key (the mail's sha256): the same key gives the same
``uploadId`` (unless slots are one-use: then every step 1 is a fresh upload whose slot
stores once, as a real API may well hand them out). Each slot is signed like a presigned URL
(HMAC over upload id, expiry and size) and remembers the vaults and file name it was handed
out for; a store puts one object per vault at ``{domain}/{vault}/{fileName}``, so storing
the same ``fileName`` again overwrites the same objects.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .bodies import Receiver
from .contract import (
    EXPIRES_FIELD,
    MAIL_CONTENT_TYPE,
    SHA256_META_HEADER,
    SIGNATURE_FIELD,
    SLOTS_PREFIX,
    ApiError,
    SlotMethod,
    SlotRequest,
    object_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grant:
    """One slot handed out, and where its upload goes (like the policy of a presigned URL)."""

    upload_id: str
    expires: int
    size: int
    sha256: str
    vaults: tuple[str, ...]
    file_name: str

    @property
    def keys(self) -> list[str]:
        return [object_key(vault, self.file_name) for vault in self.vaults]


@dataclass
class UploadRecord:
    """What the emulator knows of one upload (one Idempotency-Key)."""

    upload_id: str
    idempotency_key: str
    vaults: list[str]
    domains: list[str]
    sender: str | None
    size: int
    sha256: str
    message_id: str | None
    file_name: str
    keys: list[str] = field(default_factory=list)
    stores: int = 0  # successful step-2 uploads
    requests: int = 0  # step-1 requests with this key
    # slots handed out, by signature then by first key (slots of the same second share a
    # signature; a POST slot's key field tells them apart, a PUT takes the latest)
    grants: dict[str, dict[str, Grant]] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "uploadId": self.upload_id,
            "idempotencyKey": self.idempotency_key,
            "vaults": list(self.vaults),
            "domains": list(self.domains),
            "sender": self.sender,
            "size": self.size,
            "sha256": self.sha256,
            "messageId": self.message_id,
            "fileName": self.file_name,
            "keys": list(self.keys),
            "stores": self.stores,
            "requests": self.requests,
        }

    def copy(self) -> UploadRecord:
        return UploadRecord(
            **{
                **self.__dict__,
                "vaults": list(self.vaults),
                "domains": list(self.domains),
                "keys": list(self.keys),
                "grants": {k: dict(v) for k, v in self.grants.items()},
            }
        )



@dataclass(frozen=True)
class Stored:
    keys: list[str]
    etag: str


class SlotStore:
    """The uploads seen, their slots, and the bucket their mails are stored in."""

    def __init__(
        self,
        s3: S3Client,
        *,
        bucket: str,
        slot_method: SlotMethod,
        slot_ttl: int,
        clock: Callable[[], float],
        one_use: bool = False,
    ) -> None:
        self.bucket = bucket
        self.one_use = one_use
        self.slot_method: SlotMethod = slot_method
        self.slot_ttl = slot_ttl
        self._clock = clock
        self._s3 = s3
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._records: dict[str, UploadRecord] = {}
        self._ids: dict[str, str] = {}  # Idempotency-Key -> uploadId

    def records(self) -> list[dict[str, Any]]:
        """Every upload seen (step 1), oldest first."""
        with self._lock:
            return [record.to_json() for record in self._records.values()]

    def vaults(self) -> dict[str, list[str]]:
        """``{vault: [s3 keys]}`` of the objects in the bucket."""
        result: dict[str, list[str]] = {}
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
                for item in page.get("Contents", []):
                    parts = item["Key"].split("/", 2)
                    if len(parts) == 3:
                        result.setdefault(parts[1], []).append(item["Key"])
        except ClientError as exc:
            if _error_code(exc) != "NoSuchBucket":
                raise
        return {vault: sorted(keys) for vault, keys in sorted(result.items())}

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._ids.clear()

    def issue(self, request: SlotRequest, vaults: Sequence[str], base_url: str) -> dict[str, Any]:
        """Register a step-1 request and answer it with a fresh slot.

        The same Idempotency-Key gives the same uploadId (a fresh one for one-use slots); the
        record keeps the latest request's metadata, and each slot keeps the vaults and file name
        it was handed out for.
        """
        with self._lock:
            if self.one_use:
                upload_id = self._ids[request.sha256] = str(uuid.uuid4())
            else:
                upload_id = self._ids.setdefault(request.sha256, str(uuid.uuid4()))
            record = self._records.get(upload_id)
            if record is None:
                record = UploadRecord(
                    upload_id,
                    request.sha256,
                    [],
                    [],
                    None,
                    request.size,
                    request.sha256,
                    None,
                    request.file_name,
                )
                self._records[upload_id] = record
            record.vaults = list(vaults)
            record.domains = list(request.domains)
            record.sender = request.sender
            record.message_id = request.message_id
            record.file_name = request.file_name
            record.requests += 1
            expires = int(self._clock()) + self.slot_ttl
            signature = self.sign(upload_id, expires, record.size)
            grant = Grant(upload_id, expires, record.size, record.sha256, tuple(vaults), request.file_name)
            same_second = record.grants.setdefault(signature, {})
            same_second.pop(grant.keys[0], None)
            same_second[grant.keys[0]] = grant
        return {"uploadId": upload_id, "upload": self._slot(grant, signature, base_url)}

    def _slot(self, grant: Grant, signature: str, base_url: str) -> dict[str, Any]:
        url = f"{base_url}{SLOTS_PREFIX}{grant.upload_id}"
        if self.slot_method == "PUT":
            return {
                "method": "PUT",
                "url": f"{url}?expires={grant.expires}&signature={signature}",
                "headers": self.put_headers(grant.sha256),
            }
        fields = {"key": grant.keys[0], EXPIRES_FIELD: str(grant.expires), SIGNATURE_FIELD: signature}
        return {"method": "POST", "url": url, "fields": fields}

    @staticmethod
    def put_headers(sha256: str) -> dict[str, str]:
        """The headers a PUT slot is signed with (and must be sent with)."""
        return {"Content-Type": MAIL_CONTENT_TYPE, SHA256_META_HEADER: sha256}

    def sign(self, upload_id: str, expires: int, size: int) -> str:
        message = f"{upload_id}\n{expires}\n{size}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def lookup(self, upload_id: str) -> UploadRecord:
        """A copy of the record of an upload; 403 if unknown (a slot from before a reset)."""
        with self._lock:
            record = self._records.get(upload_id)
            if record is None:
                raise ApiError(403, "AccessDenied", "Unknown or revoked upload slot.")
            return record.copy()

    def verify(
        self, record: UploadRecord, expires: str | None, signature: str | None, key: str | None = None
    ) -> Grant:
        """The slot a request was signed for; 403 on a missing, wrong or expired signature.

        ``key`` is the key field of a POST slot (a PUT slot has none).
        """
        if not expires or not signature:
            raise ApiError(403, "AccessDenied", "The slot needs its expires and signature.")
        try:
            when = int(expires)
        except ValueError:
            raise ApiError(403, "AccessDenied", "Invalid expires.") from None
        expected = self.sign(record.upload_id, when, record.size)
        if not hmac.compare_digest(expected, signature):
            raise ApiError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if self._clock() > when:
            raise ApiError(403, "AccessDenied", "Request has expired")
        grants = record.grants.get(signature)
        if not grants:
            raise ApiError(403, "AccessDenied", "Unknown or revoked upload slot.")
        if key is None:
            return list(grants.values())[-1]
        grant = grants.get(key)
        if grant is None:
            raise ApiError(403, "AccessDenied", "Invalid according to Policy: key")
        return grant

    def store(self, grant: Grant, received: Receiver) -> Stored:
        """Put the mail once per vault of its slot, then count the store.

        A one-use slot is spent here, before the puts: a second use is 403 (even when the first
        one lost its answer, or failed to store).
        """
        keys = grant.keys
        if self.one_use:
            with self._lock:
                live = self._records.get(grant.upload_id)
                if live is None or not live.grants:
                    raise ApiError(403, "AccessDenied", "Unknown or revoked upload slot (used already).")
                live.grants.clear()
        try:
            self._put(keys[0], received.file, grant)
            for key in keys[1:]:
                self._s3.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    MetadataDirective="COPY",
                    CopySource={"Bucket": self.bucket, "Key": keys[0]},
                )
        except (ClientError, BotoCoreError) as exc:
            log.warning("emulator: storing upload %s failed: %s", grant.upload_id, exc)
            raise ApiError(500, "InternalError", "We encountered an internal error.") from exc
        with self._lock:
            live = self._records.get(grant.upload_id)
            if live is not None:
                live.stores += 1
                live.keys = list(dict.fromkeys([*live.keys, *keys]))
        log.info("emulator: stored upload %s (%d bytes, %d vaults)", grant.upload_id, grant.size, len(keys))
        return Stored(keys=keys, etag=received.etag)

    def _put(self, key: str, data: IO[bytes], grant: Grant) -> None:
        def put() -> None:
            data.seek(0)
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentLength=grant.size,
                ContentType=MAIL_CONTENT_TYPE,
                Metadata={"sha256": grant.sha256, "upload-id": grant.upload_id},
            )

        try:
            put()
        except ClientError as exc:
            if _error_code(exc) != "NoSuchBucket":
                raise
            self._s3.create_bucket(Bucket=self.bucket)
            put()


_SESSION_LOCK = threading.Lock()
_SESSION: boto3.session.Session | None = None


def _s3_client(endpoint_url: str, credentials: tuple[str, str] | None = None) -> S3Client:
    """An S3 client for moto (dummy credentials unless given); one shared session loads the models once."""
    global _SESSION
    key_id, secret, token = (*credentials, None) if credentials else ("testing", "testing", "testing")
    with _SESSION_LOCK:  # sessions are not thread-safe; the clients they make are
        if _SESSION is None:
            _SESSION = boto3.session.Session()
        return _SESSION.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=Config(
                max_pool_connections=32,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
