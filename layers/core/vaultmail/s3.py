"""S3 adapter: the only module that reads or tags mail objects. Takes its client as argument.

Mail objects are never written or deleted here, only read and tagged. AWS errors are
converted where they arise: a missing object or bucket is permanent (``MailGone``); a refusal
(``AccessDenied``: the role, the bucket policy or the object's KMS key) and anything else are
transient (``StorageError``), so the event is retried and then kept in the dead-letter queue
until the permission is fixed, never dropped. (S3 answers 403 for a *missing* key when the
caller may not list the bucket: the roles have ``s3:ListBucket`` so that missing means 404.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ClientSideEncrypted, StorageError
from .headers import HEADER_CAP, MailHeaders, cut_header_block, header_end, parse_header_block

HEAD_RANGE = 64 * 1024  # first ranged GET; grows (doubling) only for longer header blocks
# User metadata the S3 encryption client writes (v1 and v2 envelopes): the body is ciphertext
ENCRYPTION_CLIENT_KEYS = frozenset({"x-amz-key", "x-amz-key-v2", "x-amz-cek-alg"})
# Gone for good: missing, or replaced since the event (412 on If-Match).
_GONE = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "404", "412", "PreconditionFailed"}
# Refused: a permission to fix, then replay (HEAD answers carry no error code, only 403).
_DENIED = {"403", "AccessDenied", "AllAccessDisabled", "KMS.AccessDeniedException"}


class MailGone(StorageError):
    """The object (or its version, or the bucket) does not exist."""

    reason = "ObjectNotFound"
    transient = False


class AccessDenied(StorageError):
    """S3 refused the read or the tagging: retried, then dead-lettered, never dropped."""

    reason = "AccessDenied"
    transient = True


@dataclass(frozen=True)
class ObjectRef:
    """One S3 object, pinned to a version (or ETag) once known."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None

    @property
    def version(self) -> str | None:
        """The version id if it names one version: not None, not the ``"null"`` of unversioned objects."""
        return self.version_id if self.version_id and self.version_id != "null" else None

    @property
    def pin(self) -> str | None:
        """What identifies these bytes: the version, else the ETag (None: not pinned yet).

        The ETag without its quotes: events carry it bare, HEAD answers quote it.
        """
        return self.version or (self.etag.strip('"') if self.etag else None)

    def get_args(self) -> dict[str, str]:
        args = {"Bucket": self.bucket, "Key": self.key}
        if self.version:
            args["VersionId"] = self.version
        elif self.etag:
            args["IfMatch"] = self.etag
        return args

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" + (f"?versionId={self.version_id}" if self.version_id else "")


@contextmanager
def converted(ref: ObjectRef | str) -> Iterator[None]:
    """Turn botocore errors into the package's error tree (used around every S3 call)."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _GONE or str(status) in _GONE:
            raise MailGone(f"{ref}: {code or status} (no such object, version or bucket)") from exc
        if code in _DENIED or str(status) in _DENIED:
            raise AccessDenied(
                f"{ref}: access denied by the role, the bucket policy or the object's KMS key "
                "(fix the permission, then replay)"
            ) from exc
        raise StorageError(f"{ref}: S3 error {code or status}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"{ref}: {type(exc).__name__}: {exc}") from exc


def head(s3: Any, ref: ObjectRef) -> ObjectRef:
    """HEAD the object and return a ref pinned to its current version/ETag and size."""
    with converted(ref):
        meta = s3.head_object(**ref.get_args())
    return ObjectRef(
        bucket=ref.bucket,
        key=ref.key,
        version_id=meta.get("VersionId") or ref.version_id,
        etag=meta.get("ETag") or ref.etag,
        size=int(meta["ContentLength"]),
    )


def read_head_bytes(
    s3: Any, ref: ObjectRef, *, first: int = HEAD_RANGE, cap: int = HEADER_CAP
) -> tuple[bytes, bool, int]:
    """Ranged GETs from the start of the object until the header block is complete.

    Returns ``(header_block, truncated, bytes_read)``. Reads ``first`` bytes, then only while
    no empty line has been seen the next range (doubling the total), never past ``cap`` (+2).
    """
    buf = b""
    want = first
    while True:
        with converted(ref):
            resp = s3.get_object(Range=f"bytes={len(buf)}-{want - 1}", **ref.get_args())
            if ENCRYPTION_CLIENT_KEYS & set(resp.get("Metadata") or {}):
                resp["Body"].close()
                raise ClientSideEncrypted(
                    f"{ref}: encrypted by the S3 encryption client (an SES S3 action with a KMS "
                    "key?); vaultmail reads plain objects: leave the action's KMS key unset"
                )
            buf += resp["Body"].read()
        ended = len(buf) < want  # the object ended inside the range
        if ended or want > cap or header_end(buf) is not None:
            block, truncated = cut_header_block(buf, complete=ended, cap=cap)
            return block, truncated, len(buf)
        want = min(want * 2, cap + 2)


def read_headers(s3: Any, ref: ObjectRef, *, first: int = HEAD_RANGE) -> tuple[MailHeaders, int]:
    """Parse the header block of an S3 mail with ranged GETs: ``(headers, bytes_read)``."""
    block, truncated, read = read_head_bytes(s3, ref, first=first)
    return parse_header_block(block, truncated=truncated), read


def open_body(s3: Any, ref: ObjectRef) -> IO[bytes]:
    """A streaming body of the (pinned) object; read it in chunks, never whole."""
    with converted(ref):
        return s3.get_object(**ref.get_args())["Body"]


def sha256(s3: Any, ref: ObjectRef, chunk: int = 1 << 20) -> str:
    """SHA-256 hex of the object, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    body = open_body(s3, ref)
    with converted(ref):
        for part in iter(lambda: body.read(chunk), b""):
            digest.update(part)
    return digest.hexdigest()


def tag(s3: Any, ref: ObjectRef, tags: dict[str, str]) -> None:
    """Merge ``tags`` into the object's tag set (S3 allows 10 tags; values are trimmed to 256)."""
    args = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version:
        args["VersionId"] = ref.version
    with converted(ref):
        current = s3.get_object_tagging(**args).get("TagSet", [])
        merged = {t["Key"]: t["Value"] for t in current}
        merged.update({k: _tag_value(v) for k, v in tags.items()})
        tag_set = [{"Key": k, "Value": v} for k, v in list(merged.items())[-10:]]
        s3.put_object_tagging(Tagging={"TagSet": tag_set}, **args)


def _tag_value(value: str) -> str:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +-=._:/@")
    return "".join(c if c in allowed else "_" for c in value)[:256]
