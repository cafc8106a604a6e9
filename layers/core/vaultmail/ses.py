"""SES v2 adapter: send one composed :class:`vaultmail.notices.Email`. Takes its client as argument.

AWS errors are converted here into the package's error tree:

- :class:`SesUnavailable` (transient): throttling, sending quota or rate exceeded, 5xx,
  network errors. botocore's own retries have already been spent; the run stops sending
  (every further send would meet the same wall) and the next run retries.
- :class:`SesSenderRejected` (permanent for this run): the sender identity is not verified,
  the account's sending is paused or suspended, the configuration set is missing. No
  notice can be sent until an administrator fixes it, so the run stops sending.
- :class:`SesRejected` (permanent for this message): SES refused it (for instance a
  recipient not verified while the account is in the SES sandbox, or an invalid address).
  SES refuses the whole message for one such recipient, so the scanner sends the halves of
  a rejected message apart to reach the others; it goes on with the other sends and mails,
  and retries the recipients left in later runs (a bounded number of them).

All three have exit code 5 (the CLI's "a notice failed").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import EXIT_UPLOAD_FAILED, VaultmailError

if TYPE_CHECKING:
    from .notices import Email

_UNAVAILABLE = {
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
}
_SENDER = {
    "MailFromDomainNotVerifiedException",
    "MailFromDomainNotVerified",
    "AccountSuspendedException",
    "SendingPausedException",
    "AccountSendingPausedException",
    "ConfigurationSetDoesNotExist",
    "NotFoundException",
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
}


class SesError(VaultmailError):
    """SES did not accept a notice (exit 5)."""

    exit_code = EXIT_UPLOAD_FAILED
    reason = "SesError"
    stop_run = False  # True: no further notice can succeed in this run

    def __init__(self, message: str, *, code: str | None = None, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.code = code


class SesUnavailable(SesError):
    """Throttled, over quota, or SES/network failure after botocore's retries (transient)."""

    reason = "SesUnavailable"
    transient = True
    stop_run = True


class SesRejected(SesError):
    """SES refused this message (permanent for this mail in this run)."""

    reason = "SesRejected"


class SesSenderRejected(SesRejected):
    """The sender identity or the account cannot send (permanent for this run)."""

    reason = "SesSenderRejected"
    stop_run = True


def _bare(address: str) -> str:
    from email.utils import parseaddr

    return parseaddr(address)[1].lower()


def convert(exc: ClientError | BotoCoreError, from_addr: str) -> SesError:
    """The error-tree class of an SES v2 failure (``from_addr`` tells sender from recipient)."""
    if isinstance(exc, BotoCoreError):
        return SesUnavailable(f"SES: {type(exc).__name__}: {exc}", code=type(exc).__name__)
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    text = f"SES {code or status}: {message}".strip()
    if code in _UNAVAILABLE or status == 429 or status >= 500:
        return SesUnavailable(text, code=code)
    if code in _SENDER:
        return SesSenderRejected(text, code=code)
    if code == "MessageRejected" and "not verified" in message.lower():
        sender = _bare(from_addr)
        lowered = message.lower()
        # In the sandbox, an unverified *recipient* is also reported as "not verified":
        # only the sender (address or its domain) named in the message stops the run.
        if sender and (sender in lowered or not _names_an_address(lowered)):
            return SesSenderRejected(text, code=code)
    return SesRejected(text, code=code)


def _names_an_address(text: str) -> bool:
    return "@" in text


def send_email(ses: Any, email: Email, *, configuration_set: str | None = None) -> str:
    """Send one email with SES v2 ``SendEmail`` (Simple content: SES builds the MIME).

    Returns the SES message id. Raises :class:`SesError` subclasses.
    """
    destination: dict[str, list[str]] = {}
    if email.to:
        destination["ToAddresses"] = list(email.to)
    if email.cc:
        destination["CcAddresses"] = list(email.cc)
    if email.bcc:
        destination["BccAddresses"] = list(email.bcc)
    simple: dict[str, Any] = {
        "Subject": {"Data": email.subject, "Charset": "UTF-8"},
        "Body": {
            "Text": {"Data": email.text, "Charset": "UTF-8"},
            "Html": {"Data": email.html, "Charset": "UTF-8"},
        },
    }
    if email.headers:
        simple["Headers"] = [{"Name": name, "Value": value} for name, value in email.headers]
    request: dict[str, Any] = {
        "FromEmailAddress": email.from_addr,
        "Destination": destination,
        "Content": {"Simple": simple},
    }
    if email.reply_to:
        request["ReplyToAddresses"] = list(email.reply_to)
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    try:
        response = ses.send_email(**request)
    except (ClientError, BotoCoreError) as exc:
        raise convert(exc, email.from_addr) from exc
    return str(response.get("MessageId", ""))


__all__ = ["SesError", "SesRejected", "SesSenderRejected", "SesUnavailable", "convert", "send_email"]
