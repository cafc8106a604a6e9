"""Settings: one frozen dataclass, read once from the environment.

The environment names are fixed by the product design (docs/settings.md lists
them). Nothing else in the package reads ``os.environ`` (boto3 itself reads
``AWS_ENDPOINT_URL`` and the region).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache

from .errors import ConfigurationError
from .pointers import Location, parse_locations

MAX_MAIL_BYTES = 52_428_800  # Active Store limit (50 MB), checked before any request
# SES refuses messages over 40 MB sent over SMTP or its v2 API (since 2022); senders on its v1
# API (SendRawEmail) are limited to 10 MiB and set SIZE_THRESHOLD_BYTES=10485760.
# https://docs.aws.amazon.com/ses/latest/dg/quotas.html
DEFAULT_SIZE_THRESHOLD = 40_000_000
DEFAULT_LINK_EXPIRY = 1_209_600  # 14 days (SES Woomera's users asked for 14)
MAX_LINK_EXPIRY = 7_776_000  # 90 days: a link item's lifetime (the download function re-signs each click)
DEFAULT_MAX_NOTICE_RECIPIENTS = 100  # a mail with more recipients is not notified (reported instead)


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, got {value}")
    return value


def _domains(value: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for part in _split(value):
        domain = part.lower().lstrip("@").rstrip(".")
        try:
            domain.encode("idna")
        except UnicodeError:
            raise ConfigurationError(f"PRIMARY_DOMAIN has an invalid domain: {part!r}") from None
        if domain not in out:
            out.append(domain)
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the environment names of docs/settings.md."""

    primary_domains: tuple[str, ...] = ()
    api_endpoint_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_secret_arn: str | None = None
    mail_bucket: str | None = None
    scan_prefixes: tuple[str, ...] = ()
    scan_suffixes: tuple[str, ...] = (".eml",)
    size_threshold_bytes: int = DEFAULT_SIZE_THRESHOLD
    notify_from: str | None = None
    admin_email: str | None = None
    link_expiry_seconds: int = DEFAULT_LINK_EXPIRY
    # The download function's URL: empty means presigned links signed by the caller's credentials
    link_base_url: str | None = None
    signing_secret_arn: str | None = None
    allowed_recipient_domains: tuple[str, ...] = ()
    # The most addresses one mail's notice goes to: whoever writes a mail picks its recipients,
    # so a mail over the cap is not notified at all (the admin's stats mail names it).
    max_notice_recipients: int = DEFAULT_MAX_NOTICE_RECIPIENTS
    state_table: str | None = None
    # The oversize scanner's SQS queue: a sweep cut by its deadline puts its continuation there.
    scan_queue_url: str | None = None
    # Key prefixes of SES S3 actions that also notify the SNS uploader (it knows the envelope):
    # the S3 uploader leaves new objects there to it.
    ses_key_prefixes: tuple[str, ...] = ()
    # Where an SNS message may point (bucket/prefix); none: every S3 pointer is refused.
    pointer_locations: tuple[Location, ...] = ()
    # HTTP client tuning (not in design.md's fixed list; documented in docs/settings.md).
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    # Queued mails (SQS): the wait after the first transient failure, doubling up to the cap
    # (vaultmail.backoff; the template sets both).
    queue_backoff_base: int = 60
    queue_backoff_cap: int = 1800

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        suffixes = _split(env.get("SCAN_SUFFIXES"))
        return cls(
            primary_domains=_domains(env.get("PRIMARY_DOMAIN")),
            api_endpoint_url=_url(env, "API_ENDPOINT_URL"),
            api_key=_str(env, "API_KEY"),
            api_key_secret_arn=_str(env, "API_KEY_SECRET_ARN"),
            mail_bucket=_str(env, "MAIL_BUCKET"),
            scan_prefixes=_split(env.get("SCAN_PREFIXES")),
            scan_suffixes=suffixes if "SCAN_SUFFIXES" in env else (".eml",),
            size_threshold_bytes=_int(env, "SIZE_THRESHOLD_BYTES", DEFAULT_SIZE_THRESHOLD, minimum=1),
            notify_from=_str(env, "NOTIFY_FROM"),
            admin_email=_str(env, "ADMIN_EMAIL"),
            link_expiry_seconds=_link_expiry(env),
            link_base_url=_url(env, "LINK_BASE_URL"),
            signing_secret_arn=_str(env, "SIGNING_SECRET_ARN"),
            allowed_recipient_domains=_domains(env.get("ALLOWED_RECIPIENT_DOMAINS")),
            max_notice_recipients=_int(
                env, "MAX_NOTICE_RECIPIENTS", DEFAULT_MAX_NOTICE_RECIPIENTS, minimum=1
            ),
            state_table=_str(env, "STATE_TABLE"),
            scan_queue_url=_str(env, "SCAN_QUEUE_URL"),
            ses_key_prefixes=_split(env.get("SES_KEY_PREFIXES")),
            pointer_locations=parse_locations(_split(env.get("POINTER_LOCATIONS"))),
            connect_timeout=float(_int(env, "API_CONNECT_TIMEOUT", 5, minimum=1)),
            read_timeout=float(_int(env, "API_READ_TIMEOUT", 60, minimum=1)),
            max_attempts=_int(env, "API_MAX_ATTEMPTS", 5, minimum=1),
            queue_backoff_base=_int(env, "QUEUE_BACKOFF_BASE_SECONDS", 60, minimum=1),
            queue_backoff_cap=_int(env, "QUEUE_BACKOFF_CAP_SECONDS", 1800, minimum=1),
        )

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def require(self, *names: str) -> None:
        """Raise ConfigurationError naming every setting in ``names`` that is empty."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env_names = ", ".join(_ENV_NAMES.get(n, n.upper()) for n in missing)
            raise ConfigurationError(f"missing setting(s): {env_names}")


def _str(env: Mapping[str, str], name: str) -> str | None:
    """``name``'s value; None when unset or empty."""
    return env.get(name) or None


def _url(env: Mapping[str, str], name: str) -> str | None:
    """A base URL without its trailing slash; None when unset or empty."""
    return (env.get(name) or "").strip().rstrip("/") or None


def _link_expiry(env: Mapping[str, str]) -> int:
    expiry = _int(env, "LINK_EXPIRY_SECONDS", DEFAULT_LINK_EXPIRY, minimum=1)
    if expiry > MAX_LINK_EXPIRY:
        raise ConfigurationError(
            f"LINK_EXPIRY_SECONDS is {expiry}; links live at most {MAX_LINK_EXPIRY} seconds (90 days)"
        )
    return expiry


_ENV_NAMES = {"primary_domains": "PRIMARY_DOMAIN", "api_key": "API_KEY or API_KEY_SECRET_ARN"}


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once (handlers call this at first use)."""
    return Settings.from_env()
