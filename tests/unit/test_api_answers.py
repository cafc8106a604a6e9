"""What each final answer of the upload API means (``api.error_for``): pure, answers as files.

Permanent only when the mail itself is refused; an answer about the client, the endpoint or
the slot is transient, so that a Lambda event survives in the dead-letter queue.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultmail import api
from vaultmail.errors import (
    ApiKeyRefused,
    ApiNotFound,
    InvalidRecipient,
    NoPrimaryDomainRecipient,
    UploadFailed,
    UploadRejected,
    VaultmailError,
)

ANSWERS = Path(__file__).parent / "fixtures" / "answers"


def answer(name: str) -> str:
    return (ANSWERS / name).read_text(encoding="utf-8")


def test_s3_xml_errors_are_read_with_their_code() -> None:
    assert api.error_body(answer("s3-request-timeout.xml"))[0] == "RequestTimeout"
    assert api.error_body(answer("s3-expired.xml")) == ("AccessDenied", "Request has expired")
    assert api.error_body("<Error><Code>") == (None, "<Error><Code>")  # broken XML: kept as text
    assert api.error_body('{"code": "BadRequest", "message": "no sha256"}') == ("BadRequest", "no sha256")


@pytest.mark.parametrize(
    ("step", "status", "body", "error", "transient"),
    [
        ("slot request", 400, '{"code": "BadRequest"}', UploadRejected, False),
        ("slot request", 401, '{"code": "Unauthorized"}', ApiKeyRefused, True),
        ("slot request", 403, '{"code": "Forbidden"}', ApiKeyRefused, True),
        ("slot request", 404, "<html>Not Found</html>", ApiNotFound, True),  # exit 5
        ("slot request", 405, "", ApiNotFound, True),
        ("slot request", 409, '{"code": "Conflict"}', UploadFailed, True),
        ("slot request", 413, '{"code": "TooLarge"}', UploadRejected, False),
        ("slot request", 422, '{"code": "InvalidRecipient"}', InvalidRecipient, False),
        ("slot request", 422, '{"code": "NoPrimaryDomainRecipient"}', NoPrimaryDomainRecipient, False),
        ("upload", 400, "s3-request-timeout.xml", UploadFailed, True),
        ("upload", 400, "s3-bad-digest.xml", UploadRejected, False),
        ("upload", 400, "s3-entity-too-large.xml", UploadRejected, False),
        ("upload", 403, "s3-expired.xml", UploadFailed, True),  # a new slot on the next attempt
        ("upload", 411, "s3-missing-content-length.xml", UploadFailed, True),  # a client bug: keep it
        ("upload", 404, "", UploadFailed, True),
    ],
)
def test_only_a_refused_mail_is_permanent(
    step: str, status: int, body: str, error: type[VaultmailError], transient: bool
) -> None:
    text = answer(body) if body.endswith(".xml") else body
    got = api.error_for(status, text, step=step)
    assert type(got) is error
    assert got.transient is transient
    assert str(status) in got.message
