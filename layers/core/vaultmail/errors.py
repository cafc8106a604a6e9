"""One error tree for the whole package.

Every error carries the exit code of the Vaultastic upload SDK (0..6, see
docs/design.md) so that the command line can return it unchanged, plus two
things the Lambda handlers need: ``transient`` (retry: the queued message goes back to
its queue with a growing backoff and, after the queue's maxReceiveCount, to its
dead-letter queue; a Batch Operations task answers TemporaryFailure) and ``reason``
(a short stable token used in logs, metrics and object tags).
"""

from __future__ import annotations

# SDK exit codes (fixed by the SDK; 2 is reserved by the shell and never used).
EXIT_OK = 0
EXIT_UNKNOWN = 1
EXIT_INVALID_ARGUMENTS = 3
EXIT_INVALID_RECIPIENT = 4
EXIT_UPLOAD_FAILED = 5
EXIT_NO_PRIMARY_DOMAIN_RECIPIENT = 6


class VaultmailError(Exception):
    """Base class of every error vaultmail raises on purpose."""

    exit_code: int = EXIT_UNKNOWN
    transient: bool = False
    reason: str = "Error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason

    def as_dict(self) -> dict[str, object]:
        return {"code": self.exit_code, "reason": self.reason, "message": self.message}


class InvalidArguments(VaultmailError):
    """Bad command line, unreadable input file (exit 3)."""

    exit_code = EXIT_INVALID_ARGUMENTS
    reason = "InvalidArguments"


class ConfigurationError(InvalidArguments):
    """A setting is missing or invalid (exit 3). Transient in Lambda: fix it, replay the DLQ."""

    reason = "Configuration"
    transient = True


class NotAMail(VaultmailError):
    """The input has no RFC 822 header block (exit 3, permanent)."""

    exit_code = EXIT_INVALID_ARGUMENTS
    reason = "NotAMail"


class ClientSideEncrypted(NotAMail):
    """An S3 object encrypted by the S3 encryption client (an SES S3 action with a KMS key):
    its bytes are ciphertext (permanent)."""

    reason = "ClientSideEncrypted"


class InvalidEvent(VaultmailError):
    """A Lambda event or SNS message this project does not understand (permanent)."""

    exit_code = EXIT_INVALID_ARGUMENTS
    reason = "InvalidEvent"


class InvalidRecipient(VaultmailError):
    """A -r/-s value that is not an address on a primary domain, or API 422 (exit 4)."""

    exit_code = EXIT_INVALID_RECIPIENT
    reason = "InvalidRecipient"


class NoPrimaryDomainRecipient(VaultmailError):
    """No address of the mail (or -r/-s) is on a primary domain (exit 6, permanent)."""

    exit_code = EXIT_NO_PRIMARY_DOMAIN_RECIPIENT
    reason = "NoPrimaryDomainRecipient"


class UploadFailed(VaultmailError):
    """The upload did not complete after the bounded retries (exit 5, transient)."""

    exit_code = EXIT_UPLOAD_FAILED
    reason = "UploadFailed"
    transient = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status
        self.retry_after = retry_after  # seconds the API asked to wait (429 Retry-After), if any
        # which step failed ("slot request" or "upload"), set by the client: only a failed slot
        # request tells of the API as a whole; a refused upload may be this one mail's own
        self.step: str | None = None
        # the vaults of the mail that failed (set by the uploader once it knows them): two mails
        # of one bad vault failing alike tell of that vault, not of the API (queue_batch.OutageWatch)
        self.vaults: tuple[str, ...] = ()


class ApiKeyRefused(UploadFailed):
    """401/403 from the API. Transient for Lambda: fix the key, then replay the DLQ."""

    reason = "ApiKeyRefused"


class ApiNotFound(UploadFailed):
    """404/405 on step 1: API_ENDPOINT_URL does not point at the API (exit 5, as every step-1
    failure; transient for Lambda: fix the setting, then replay the DLQ)."""

    reason = "ApiNotFound"


class UploadRejected(UploadFailed):
    """The API refused the request for good (400, 413): retrying cannot help."""

    reason = "UploadRejected"
    transient = False


class MailTooLarge(UploadRejected):
    """The mail is over the service's 50 MB limit: refused before any request (exit 5)."""

    reason = "MailTooLarge"


class Deferred(VaultmailError):
    """A queued mail not tried in this invocation (the API just failed for another mail of the
    batch, or too little time is left): back to its queue, to be tried later (transient)."""

    reason = "Deferred"
    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StateError(VaultmailError):
    """The state table (DynamoDB) could not be read or written (transient)."""

    reason = "StateError"
    transient = True


class StorageError(VaultmailError):
    """An S3 read failed (transient unless the object is gone)."""

    reason = "StorageError"
    transient = True


class ReplayError(VaultmailError):
    """``vaultmail replay``: SQS refused a call or a move task failed (exit 1)."""

    reason = "ReplayError"
