"""Sample mails for the demo and the end-to-end tests, built with the email package."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path


def mail(
    subject: str,
    *,
    sender: str = "Amit Kumar <amit@acme.com>",
    to: str = "ops@acme.com",
    cc: str | None = None,
    bcc: str | None = None,
    body: str = "Hello,\n\nsee attached.\n",
    attachment_bytes: int = 0,
) -> bytes:
    """An RFC 822 mail; ``attachment_bytes`` adds a random binary attachment of that size."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    if bcc:
        msg["Bcc"] = bcc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(domain="acme.com")
    msg.set_content(body)
    if attachment_bytes:
        msg.add_attachment(
            os.urandom(attachment_bytes), maintype="application", subtype="octet-stream", filename="data.bin"
        )
    return msg.as_bytes()


def write_big_mail(path: Path, size: int, *, subject: str, to: str = "ops@acme.com") -> Path:
    """A mail of exactly ``size`` bytes written in 1 MiB chunks (never whole in memory)."""
    head = (
        f"From: Amit Kumar <amit@acme.com>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{os.urandom(6).hex()}@acme.com>\r\nDate: Fri, 20 Nov 2026 09:30:00 +0000\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"x" * 76 + b"\r\n"
    with path.open("wb") as out:
        out.write(head)
        left = size - len(head)
        block = line * (1 << 20 // len(line) + 1)
        while left > 0:
            chunk = block[: min(left, len(block))]
            out.write(chunk)
            left -= len(chunk)
    return path
