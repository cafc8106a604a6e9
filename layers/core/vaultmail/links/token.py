"""Link tokens (pure): made with :mod:`secrets`, stored only as their SHA-256.

A token is 32 random bytes, URL-safe base64 (43 characters, 256 bits): far past the 128 bits
design.md asks for, so guessing one is hopeless and a flood of guesses costs only lookups of
hashes that do not exist. The state table keeps ``link#<sha256 hex>``: whoever reads the
table cannot rebuild a link, and logs name the hash's first characters, never the token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from urllib.parse import urlsplit

TOKEN_BYTES = 32
ID_PREFIX = "link#"  # every link item's id starts with it (IAM scopes on dynamodb:LeadingKeys)
LOG_PREFIX = 12  # hex characters of the hash shown in logs and by the CLI
# What token_urlsafe makes (at least 16 bytes: 22 characters); anything else is unknown at once.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
_PATH = re.compile(r"^/m/([^/]+)$")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def link_id(digest: str) -> str:
    """The state item id of a link: ``link#<sha256 hex>``."""
    return f"{ID_PREFIX}{digest}"


def short(digest: str) -> str:
    """The hash prefix logs and the CLI show (enough to tell links apart, not to find one)."""
    return digest[:LOG_PREFIX]


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/m/{token}"


def token_from_path(path: str) -> str | None:
    """The token of a ``/m/{token}`` path; None for any other path or a malformed token."""
    m = _PATH.match(path)
    if m is None or not _TOKEN.match(m.group(1)):
        return None
    return m.group(1)


def token_from_url(url: str) -> str | None:
    """The token of a notice's link (``https://host/m/{token}``), or None."""
    return token_from_path(urlsplit(url.strip()).path)
