"""The scanner: a sweep of the bucket (:meth:`Scanner.run`), or one object (:meth:`Scanner.notify_object`).

Both go through the same plan, the same claims in the state table and the same delivery, so
an arrival notice and a sweep never tell anyone twice. Adapters (S3, SES, DynamoDB) take
their boto3 clients as arguments; the clients are made by :meth:`Scanner.from_settings`
(or passed in by tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container
from typing import Any, Literal

from ..errors import ConfigurationError, StateError
from ..links import LinkTable
from ..settings import Settings
from ..state import DEFAULT_LEASE_SECONDS, NotificationState
from .claims import STATE_ATTEMPTS, Claims
from .links import LinkMaker, PresignedLinks, TokenLinks, signing_credentials
from .listing import Sweep
from .mail import MailStep
from .plan import Decision, Listed, distinct_prefixes, in_prefixes, plan
from .run import Run
from .stats import MailOutcome, ScanResult
from .stats import send_stats as mail_stats

DEFAULT_MARGIN_MS = 20_000  # stop this long before the Lambda deadline
SPLIT_SENDS = 50  # per mail and run: extra SES sends to get around recipients SES rejects
WATERMARK_MARGIN = 3600  # seconds before a pass's start that its watermark stays behind


def _client_config(**extra: Any) -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5}, **extra)


class Scanner:
    """Scans of the mail bucket (one :class:`~.run.Run` per call; clients are reusable)."""

    def __init__(
        self,
        settings: Settings,
        *,
        s3: Any,
        ses: Any = None,
        dynamodb: Any = None,
        signer: Any = None,
        links: LinkMaker | None = None,
        clock: Callable[[], float] = time.time,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        safety_margin_ms: int = DEFAULT_MARGIN_MS,
        owner: str | None = None,
        tag_objects: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        state_attempts: int = STATE_ATTEMPTS,
        split_sends: int = SPLIT_SENDS,
        watermark_margin: float = WATERMARK_MARGIN,
    ) -> None:
        if not settings.mail_bucket:
            raise ConfigurationError("missing setting(s): MAIL_BUCKET (or --bucket)")
        self.settings = settings
        self.bucket = settings.mail_bucket
        self.s3 = s3
        self.ses = ses
        self.dynamodb = dynamodb
        self.signer = signer if signer is not None else s3
        self.links = links  # None: chosen from the settings (link_maker)
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.safety_margin_ms = safety_margin_ms
        self.owner = owner  # None: a fresh owner id per run
        self.tag_objects = tag_objects
        self.sleep = sleep  # between tries of a state write (tests pass a no-op)
        self.state_attempts = max(1, state_attempts)
        self.split_sends = max(0, split_sends)
        self.watermark_margin = watermark_margin
        self.state = (
            NotificationState(dynamodb, settings.state_table, clock=clock)
            if dynamodb is not None and settings.state_table
            else None
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        session: Any = None,
        s3_session: Any = None,
        region: str | None = None,
        **kwargs: Any,
    ) -> Scanner:
        """Make the clients (standard retries; a SigV4 signer, with the long-lived keys of
        ``SIGNING_SECRET_ARN`` when set) and the scanner. ``s3_session``, when given, is used
        for the bucket (reads, tags, links) and ``session`` for everything else."""
        import boto3

        session = session or boto3.session.Session(region_name=region)
        s3_session = s3_session or session
        s3 = s3_session.client("s3", config=_client_config())
        signer_config = _client_config(signature_version="s3v4")
        if settings.signing_secret_arn:
            key_id, secret = signing_credentials(
                session.client("secretsmanager", config=_client_config()), settings.signing_secret_arn
            )
            signer = boto3.session.Session(
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                region_name=session.region_name,
            ).client("s3", config=signer_config)
        else:
            signer = s3_session.client("s3", config=signer_config)
        return cls(
            settings,
            s3=s3,
            ses=session.client("sesv2", config=_client_config()),
            dynamodb=session.client("dynamodb", config=_client_config()) if settings.state_table else None,
            signer=signer,
            **kwargs,
        )

    def link_maker(self) -> LinkMaker:
        """Token links through the download function when ``LINK_BASE_URL`` is set, else
        presigned links signed by ``signer`` (a shell's ``vaultmail scan``)."""
        s = self.settings
        if self.links is not None:
            return self.links
        if not s.link_base_url:
            return PresignedLinks(self.signer, s.link_expiry_seconds)
        if self.dynamodb is None or not s.state_table:
            raise ConfigurationError("LINK_BASE_URL needs STATE_TABLE: the links are kept there")
        return TokenLinks(
            s.link_base_url,
            LinkTable(self.dynamodb, s.state_table),
            self.s3,
            expiry=s.link_expiry_seconds,
            contact=s.notify_from or "",
        )

    def _require_sending(self) -> None:
        missing = [
            n for n, v in (("NOTIFY_FROM", self.settings.notify_from), ("STATE_TABLE", self.state)) if not v
        ]
        if missing or self.ses is None:
            raise ConfigurationError(f"missing setting(s): {', '.join(missing) or 'SES client'}")

    def run(
        self,
        *,
        remaining_ms: Callable[[], int] | None = None,
        dry_run: bool = False,
        assume_notified: Container[str] = frozenset(),
        on_outcome: Callable[[MailOutcome], None] | None = None,
        send_stats: bool | Literal["news"] = True,
    ) -> ScanResult:
        """Sweep every prefix; stop ``safety_margin_ms`` before ``remaining_ms()`` reaches 0.

        ``dry_run``: read headers and report what would be notified; no claim, no send, no
        tag, no cursor. ``on_outcome`` sees each oversize mail's outcome as it happens.
        ``send_stats``: mail the counters to ``ADMIN_EMAIL`` after the run (``"news"``: only
        when the run was :attr:`ScanResult.newsworthy`, for scheduled runs); whether it went
        out is in :attr:`ScanResult.stats_mail`.
        """
        if not dry_run:
            self._require_sending()
        result = ScanResult(self.bucket, distinct_prefixes(self.settings.scan_prefixes))
        run = Run(
            self,
            result,
            remaining_ms=remaining_ms,
            dry_run=dry_run,
            assume_notified=assume_notified,
            on_outcome=on_outcome,
        )
        claims = Claims(run)
        try:
            Sweep(run, MailStep(run, claims)).execute()
        finally:
            claims.finish()
        wanted = result.newsworthy if send_stats == "news" else send_stats
        if wanted and not dry_run and self.settings.admin_email:
            result.stats_mail = mail_stats(self.ses, self.settings, result, run.problems)
        return result

    def notify_object(
        self,
        obj: Listed,
        *,
        remaining_ms: Callable[[], int] | None = None,
    ) -> ScanResult:
        """The arrival path: decide and notify one object (no listing; one state read).

        An object outside the scanned prefixes, of another suffix or under the threshold is
        counted and left alone. :attr:`ScanResult.any_failed` or ``halted``: try again later.
        """
        self._require_sending()
        prefixes = distinct_prefixes(self.settings.scan_prefixes)
        result = ScanResult(self.bucket, prefixes)
        run = Run(self, result, remaining_ms=remaining_ms)
        claims = Claims(run)
        step = MailStep(run, claims)
        s = self.settings
        options: dict[str, Any] = dict(
            bucket=self.bucket, suffixes=s.scan_suffixes, threshold=s.size_threshold_bytes
        )
        try:
            if not in_prefixes(obj.key, [p for p in prefixes if p]):
                step.apply(Decision(obj, "ignore"))
                return result
            decision = plan([obj], records={}, now=self.clock(), **options)[0]
            if decision.action == "notify" and decision.state_id is not None and self.state is not None:
                try:
                    records = self.state.get_many([decision.state_id])
                except StateError as exc:
                    run.halt(obj.key, exc)
                    return result
                decision = plan([obj], records=records, now=self.clock(), **options)[0]
            step.apply(decision)
        finally:
            claims.finish()
        return result
