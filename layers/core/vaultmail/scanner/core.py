"""The scanner: a sweep of the bucket (:meth:`Scanner.run`), or one object (:meth:`Scanner.notify_object`).

Both go through the same loop (:mod:`.sweep`), plan, claims in the state table and sender, so
an arrival notice and a sweep never tell anyone twice. Adapters (S3, SES, DynamoDB) take
their boto3 clients as arguments; the clients are made by :meth:`Scanner.from_settings`
(or passed in by tests). A dry run is the same loop with a sender that sends nothing
(:class:`~.notify.DryRun`): chosen here, in :meth:`Scanner._effects`, and nowhere else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigurationError
from ..links import LinkTable
from ..settings import Settings
from ..state import DEFAULT_LEASE_SECONDS, NotificationState
from .links import LinkMaker, PresignedLinks, TokenLinks, signing_credentials
from .notify import DryRun, Mailer, Notifier
from .passes import SweepPasses
from .plan import Listed, distinct_prefixes
from .statewrites import STATE_ATTEMPTS, StateWrites
from .stats import MailOutcome, ScanResult
from .steps import MailSteps, Sender
from .sweep import Loop, LoopConfig
from .tally import Tally

DEFAULT_MARGIN_MS = 20_000  # stop this long before the Lambda deadline
SPLIT_SENDS = 50  # per mail and run: extra SES sends to get around recipients SES rejects
WATERMARK_MARGIN = 3600  # seconds before a pass's start that its watermark stays behind


@dataclass(frozen=True)
class Effects:
    """What a run does to the world: its sender, and where sweep passes are kept (None: nowhere)."""

    sender: Sender
    passes: SweepPasses | None


def _client_config(**extra: Any) -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5}, **extra)


class Scanner:
    """Scans of the mail bucket (one :class:`~.sweep.Loop` per call; clients are reusable)."""

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

    def _require_sending(self) -> NotificationState:
        missing = [
            n for n, v in (("NOTIFY_FROM", self.settings.notify_from), ("STATE_TABLE", self.state)) if not v
        ]
        if missing or self.ses is None or self.state is None:
            raise ConfigurationError(f"missing setting(s): {', '.join(missing) or 'SES client'}")
        return self.state

    def _effects(self, dry_run: bool) -> Effects:
        """The one place a dry run differs: a sender that sends nothing, and no cursor kept."""
        if dry_run:
            return Effects(DryRun(), None)
        state = self._require_sending()
        mailer = Mailer(
            settings=self.settings,
            bucket=self.bucket,
            s3=self.s3,
            ses=self.ses,
            links=self.link_maker(),
            clock=self.clock,
            owner=self.owner or f"scan-{uuid.uuid4().hex[:16]}",
            lease_seconds=self.lease_seconds,
            split_sends=self.split_sends,
            tag_objects=self.tag_objects,
        )
        writes = StateWrites(state, attempts=self.state_attempts, sleep=self.sleep)
        passes = SweepPasses(state.db, state.table, clock=self.clock)
        return Effects(Notifier(mailer, state, writes), passes)

    def _loop(
        self,
        effects: Effects,
        tally: Tally,
        remaining_ms: Callable[[], int] | None,
        assume_notified: Container[str] = frozenset(),
    ) -> Loop:
        cfg = LoopConfig(
            settings=self.settings,
            bucket=self.bucket,
            s3=self.s3,
            clock=self.clock,
            safety_margin_ms=self.safety_margin_ms,
            watermark_margin=self.watermark_margin,
            remaining_ms=remaining_ms,
            assume_notified=assume_notified,
        )
        steps = MailSteps(s3=self.s3, bucket=self.bucket, settings=self.settings, sender=effects.sender)
        lookup = self.state.get_many if self.state is not None else None
        return Loop(cfg, steps, tally, lookup=lookup, passes=effects.passes)

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
        effects = self._effects(dry_run)
        tally = Tally(
            ScanResult(self.bucket, distinct_prefixes(self.settings.scan_prefixes)), on_outcome=on_outcome
        )
        loop = self._loop(effects, tally, remaining_ms, assume_notified)
        try:
            loop.sweep()
        finally:
            effects.sender.finish(lambda: loop.out_of_time(self.safety_margin_ms // 2))
        result = tally.result
        wanted = result.newsworthy if send_stats == "news" else send_stats
        if wanted and self.settings.admin_email:
            result.stats_mail = effects.sender.stats_mail(result, tally.problems)
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
        A mail over ``MAX_NOTICE_RECIPIENTS`` is reported to ``ADMIN_EMAIL`` at once: it is
        settled here, so no later sweep reports it.
        """
        effects = self._effects(dry_run=False)
        tally = Tally(ScanResult(self.bucket, distinct_prefixes(self.settings.scan_prefixes)))
        loop = self._loop(effects, tally, remaining_ms)
        try:
            loop.arrival(obj)
        finally:
            effects.sender.finish(lambda: loop.out_of_time(self.safety_margin_ms // 2))
        result = tally.result
        if result.over_cap and self.settings.admin_email:
            result.stats_mail = effects.sender.stats_mail(result, tally.problems)
        return result
