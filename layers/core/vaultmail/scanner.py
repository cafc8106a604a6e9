"""The oversize scanner: find mails at or over the size limit, notify their recipients once.

Plan, then execute. :func:`plan` is pure: given one page of an S3 listing and what the
state table says about its oversize objects, it decides what to do with each object.
:class:`Scanner` executes: it lists ``MAIL_BUCKET`` under each of ``SCAN_PREFIXES``
(paginated, resuming after a cursor), reads only the header block of each candidate
(ranged GETs of 64 KiB, grown only for a longer header block), claims the mail in the
state table (conditional write with a lease), signs a download link, sends the notice
(split into sends of at most 50 recipients, each written ahead and recorded), completes the
claim and tags the object. A failed send releases the claim, so the next run retries (only
the recipients not told yet). A send SES rejects is split in halves, down to the addresses
SES refuses on their own, so that they do not hold back the others; recipients the split
budget could not reach are carried to the next run, and those SES refused alone are sent to
apart in later runs; a mail with nobody left but such recipients for ``MAX_REJECTED_RUNS``
runs is given up (settled). Before the Lambda deadline, or when the
state table fails to list or claim, it stops and leaves a cursor; the next run resumes
there. A state write after an accepted send that keeps failing stops only that mail: its
claim is ended at the end of the run or left to its lease, never released in a way that
would tell anyone twice (see docs/scanner.md, "When the state table fails").

Adapters (S3, SES, DynamoDB) take their boto3 clients as arguments; the clients are made
by :meth:`Scanner.from_settings` (or passed in by tests).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from . import s3 as s3io
from .errors import ConfigurationError, InvalidArguments, NotAMail, StateError, StorageError, VaultmailError
from .headers import MailHeaders
from .notices import (
    MAX_RECIPIENTS,
    Email,
    Notice,
    compose_notice,
    compose_stats,
    content_disposition,
    halves,
    one_line,
    recipients_of,
    safe_filename,
    show_mailbox,
)
from .ses import SesError, send_email
from .settings import Settings
from .state import (
    DEFAULT_LEASE_SECONDS,
    FAILED,
    MAX_REJECTED_RUNS,
    NOTIFIED,
    SETTLED,
    Claim,
    LeaseLost,
    NotificationState,
    Record,
    notice_id,
)

log = logging.getLogger("vaultmail.scanner")

DEFAULT_MARGIN_MS = 20_000  # stop this long before the Lambda deadline
PAGE_SIZE = 1000
NOTIFIED_TAG = "vaultmail-notified"
WOOMERA_MAX_BYTES = 64 << 20
COLD_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}  # a ranged GET needs a restore first
SPLIT_SENDS = 50  # per mail and run: extra SES sends to get around recipients SES rejects
STATE_ATTEMPTS = 3  # tries of each state write that follows an SES send (record, complete)
STATE_BACKOFF = (0.2, 1.0)  # seconds between those tries

T = TypeVar("T")

Action = Literal["ignore", "small", "cold", "notified", "settled", "busy", "notify"]


# -- planning (pure) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One object of an S3 listing."""

    key: str
    size: int
    etag: str = ""
    storage_class: str = "STANDARD"

    @classmethod
    def from_s3(cls, item: Mapping[str, Any]) -> Listed:
        return cls(
            key=str(item["Key"]),
            size=int(item.get("Size", 0)),
            etag=str(item.get("ETag", "")),
            storage_class=str(item.get("StorageClass") or "STANDARD"),
        )


@dataclass(frozen=True)
class Decision:
    obj: Listed
    action: Action
    state_id: str | None = None


def matches(key: str, suffixes: Sequence[str]) -> bool:
    """A mail object: not a folder marker, and ends with one of ``suffixes`` (any case; none: all)."""
    if key.endswith("/"):
        return False
    if not suffixes:
        return True
    lowered = key.lower()
    return any(lowered.endswith(s.lower()) for s in suffixes)


def is_oversize(obj: Listed, threshold: int) -> bool:
    return obj.size >= threshold


def candidate_ids(
    objects: Iterable[Listed], *, bucket: str, suffixes: Sequence[str], threshold: int
) -> list[str]:
    """The state ids to look up for a listing page: its oversize mail objects."""
    return [
        notice_id(bucket, o.key, o.etag)
        for o in objects
        if matches(o.key, suffixes) and is_oversize(o, threshold) and o.storage_class not in COLD_CLASSES
    ]


def plan(
    objects: Iterable[Listed],
    *,
    bucket: str,
    suffixes: Sequence[str],
    threshold: int,
    records: Mapping[str, Record],
    now: float,
    assume_notified: Container[str] = frozenset(),
) -> list[Decision]:
    """What to do with each object of a listing page, in listing order.

    ``ignore``: not a mail object (folder marker, other suffix); ``small``: under the
    threshold; ``cold``: oversize but in an archive storage class; ``notified``: the state
    table (or ``assume_notified``, keys from a Woomera file in a dry run) says it is done;
    ``settled``: an earlier run found nobody to notify (no recipient, not a mail);
    ``busy``: another run holds an unexpired claim; ``notify``: to be notified now (new, a
    failed earlier attempt, or a claim whose lease expired).
    """
    out: list[Decision] = []
    for obj in objects:
        if not matches(obj.key, suffixes):
            out.append(Decision(obj, "ignore"))
            continue
        if not is_oversize(obj, threshold):
            out.append(Decision(obj, "small"))
            continue
        if obj.storage_class in COLD_CLASSES:
            out.append(Decision(obj, "cold"))
            continue
        sid = notice_id(bucket, obj.key, obj.etag)
        record = records.get(sid)
        if obj.key in assume_notified or (record is not None and record.status == NOTIFIED):
            out.append(Decision(obj, "notified", sid))
        elif record is not None and record.status == SETTLED:
            out.append(Decision(obj, "settled", sid))
        elif record is not None and record.busy(now):
            out.append(Decision(obj, "busy", sid))
        else:
            out.append(Decision(obj, "notify", sid))
    return out


def distinct_prefixes(prefixes: Sequence[str]) -> tuple[str, ...]:
    """Each prefix once, leaving out those inside another (``mail/2025/`` when ``mail/`` is there)."""
    unique = list(dict.fromkeys(prefixes or ("",)))
    return tuple(p for p in unique if not any(p != q and p.startswith(q) for q in unique))


def prefix_order(prefixes: Sequence[str], cursors: Mapping[str, str | None]) -> list[str]:
    """Prefixes with a cursor (a run stopped inside them) first, then the others, each once."""
    unique = distinct_prefixes(prefixes)
    return [p for p in unique if cursors.get(p)] + [p for p in unique if not cursors.get(p)]


def out_of_time(remaining_ms: Callable[[], int] | None, margin_ms: int) -> bool:
    return remaining_ms is not None and remaining_ms() < margin_ms


# -- results -------------------------------------------------------------------------------


@dataclass
class ScanStats:
    """Counters of one run (also the admin mail and the metrics). JSON keys are camelCase."""

    scanned: int = 0
    oversize: int = 0
    notified: int = 0
    already_notified: int = 0
    settled: int = 0
    in_progress: int = 0
    failed: int = 0
    gave_up: int = 0  # of the failed: given up for good (SES kept rejecting), settled
    deferred: int = 0
    no_recipients: int = 0
    unreadable: int = 0
    cold: int = 0
    notices_sent: int = 0
    recipients_notified: int = 0
    oversize_bytes: int = 0
    bytes_read: int = 0

    def as_dict(self) -> dict[str, int]:
        return {_camel(k): v for k, v in asdict(self).items()}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


@dataclass
class MailOutcome:
    """What happened to one oversize mail (a row of ``vaultmail scan`` output)."""

    key: str
    size: int
    status: str  # notified, would-notify, already-notified, in-progress, failed, given-up,
    # deferred, no-recipients, unreadable, cold
    recipients: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    subject: str | None = None
    sender: str | None = None
    date: str | None = None
    notices: int = 0
    header_bytes_read: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "size": self.size,
            "status": self.status,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "from": self.sender,
            "date": self.date,
            "notices": self.notices,
            "bytesRead": self.header_bytes_read,
        }
        if self.dropped:
            out["dropped"] = list(self.dropped)
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ScanResult:
    bucket: str
    prefixes: tuple[str, ...]
    stats: ScanStats = field(default_factory=ScanStats)
    outcomes: list[MailOutcome] = field(default_factory=list)
    complete: bool = True
    stopped_sending: str | None = None
    halted: str | None = None  # why the run stopped early on an error (None: done, or the deadline)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def any_failed(self) -> bool:
        return self.stats.failed > 0

    @property
    def newsworthy(self) -> bool:
        """Something for the admin: notices sent or not sent, mails that cannot be notified,
        a run stopped by an error."""
        s = self.stats
        return bool(
            s.notified or s.failed or s.deferred or s.no_recipients or s.unreadable
        ) or bool(self.stopped_sending or self.halted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefixes": list(self.prefixes),
            "complete": self.complete,
            "stoppedSending": self.stopped_sending,
            "halted": self.halted,
            **self.stats.as_dict(),
        }


# -- links -----------------------------------------------------------------------------------


def sign_link(signer: Any, bucket: str, key: str, *, filename: str, expiry: int) -> str:
    """A presigned GET of the mail that downloads as ``<filename>`` (message/rfc822).

    ``signer`` is an S3 client configured for SigV4 (``signature_version="s3v4"``): SigV4
    links live at most 7 days, and only as long as the credentials that signed them.
    """
    params = {
        "Bucket": bucket,
        "Key": key,
        "ResponseContentDisposition": content_disposition(filename),
        "ResponseContentType": "message/rfc822",
    }
    try:
        return str(signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expiry))
    except (BotoCoreError, ClientError) as exc:
        raise ConfigurationError(f"cannot sign a download link: {type(exc).__name__}: {exc}") from exc


def signing_credentials(secretsmanager: Any, arn: str) -> tuple[str, str]:
    """Long-lived keys from the secret ``arn``: JSON ``{"accessKeyId": ..., "secretAccessKey": ...}``."""
    try:
        value = secretsmanager.get_secret_value(SecretId=arn)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise ConfigurationError(f"cannot read SIGNING_SECRET_ARN {arn}: {type(exc).__name__}") from exc
    try:
        data = json.loads(value)
        return str(data["accessKeyId"]), str(data["secretAccessKey"])
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(
            'the signing secret must be JSON {"accessKeyId": "...", "secretAccessKey": "..."}'
        ) from None


# -- Woomera migration ----------------------------------------------------------------------


@dataclass
class ImportResult:
    entries: int = 0
    imported: int = 0
    existing: int = 0
    missing: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_woomera(data: bytes) -> dict[str, str | None]:
    """SES Woomera's processedEmails.json: ``{key: {"emailSent": "dd-mm-YYYY", ...}}`` -> key: ISO date.

    An empty file (Woomera creates one) is an empty dict; a plain list of keys is accepted too.
    """
    text = data.decode("utf-8-sig", errors="replace").strip()
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidArguments(f"the Woomera processed-emails file is not JSON: {exc}") from None
    if isinstance(doc, list):
        return {str(k): None for k in doc if isinstance(k, str) and k}
    if not isinstance(doc, dict):
        raise InvalidArguments("the Woomera processed-emails file is not a JSON object")
    out: dict[str, str | None] = {}
    for key, entry in doc.items():
        sent = entry.get("emailSent") if isinstance(entry, dict) else None
        out[str(key)] = _woomera_date(sent)
    return out


def _woomera_date(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    for fmt in ("%d-%m-%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), fmt).strftime("%Y-%m-%dT00:00:00Z")
        except ValueError:
            continue
    return None


def load_woomera(s3: Any, bucket: str, key: str) -> dict[str, str | None]:
    """Read and parse a Woomera processedEmails.json from the mail bucket."""
    ref = s3io.ObjectRef(bucket, key)
    try:
        meta = s3io.head(s3, ref)
    except s3io.MailGone:
        raise InvalidArguments(f"no Woomera processed-emails file at s3://{bucket}/{key}") from None
    if (meta.size or 0) > WOOMERA_MAX_BYTES:
        raise InvalidArguments(f"s3://{bucket}/{key} is over {WOOMERA_MAX_BYTES} bytes: not a Woomera file")
    body = s3io.open_body(s3, meta)
    with s3io.converted(meta):
        data = body.read()
    return parse_woomera(data)


def import_woomera(
    s3: Any,
    state: NotificationState,
    bucket: str,
    entries: Mapping[str, str | None],
    *,
    workers: int = 8,
) -> ImportResult:
    """Mark the objects listed by Woomera as notified, so that nobody is told twice.

    Each object is HEADed for its ETag (the state id pins the content); objects that are
    gone are counted as missing. Existing state items are never overwritten.
    """
    result = ImportResult(entries=len(entries))
    fallback = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def one(item: tuple[str, str | None]) -> str:
        key, sent = item
        try:
            meta = s3io.head(s3, s3io.ObjectRef(bucket, key))
        except s3io.MailGone:
            return "missing"
        written = state.mark_notified(
            notice_id(bucket, key, meta.etag),
            notified_at=sent or fallback,
            meta={
                "source": "ses-woomera",
                "bucket": bucket,
                "key": key,
                "etag": (meta.etag or "").strip('"'),
            },
        )
        return "imported" if written else "existing"

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for status in pool.map(one, entries.items()):
            setattr(result, status, getattr(result, status) + 1)
    return result


# -- execution ---------------------------------------------------------------------------------


def _client_config(**extra: Any) -> Any:
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5}, **extra)


class Scanner:
    """One scan of the mail bucket (make one per run; clients are reusable)."""

    def __init__(
        self,
        settings: Settings,
        *,
        s3: Any,
        ses: Any = None,
        dynamodb: Any = None,
        signer: Any = None,
        clock: Callable[[], float] = time.time,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        safety_margin_ms: int = DEFAULT_MARGIN_MS,
        owner: str | None = None,
        tag_objects: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        state_attempts: int = STATE_ATTEMPTS,
        split_sends: int = SPLIT_SENDS,
    ) -> None:
        if not settings.mail_bucket:
            raise ConfigurationError("missing setting(s): MAIL_BUCKET (or --bucket)")
        self.settings = settings
        self.bucket = settings.mail_bucket
        self.s3 = s3
        self.ses = ses
        self.dynamodb = dynamodb
        self.signer = signer if signer is not None else s3
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.safety_margin_ms = safety_margin_ms
        self.owner = owner  # None: a fresh owner id per run
        self.tag_objects = tag_objects
        self.sleep = sleep  # between tries of a state write (tests pass a no-op)
        self.state_attempts = max(1, state_attempts)
        self.split_sends = max(0, split_sends)
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

    # -- the run -------------------------------------------------------------------------------

    def run(
        self,
        *,
        remaining_ms: Callable[[], int] | None = None,
        dry_run: bool = False,
        assume_notified: Container[str] = frozenset(),
        on_outcome: Callable[[MailOutcome], None] | None = None,
        send_stats: bool | Literal["news"] = True,
    ) -> ScanResult:
        """Scan every prefix; stop ``safety_margin_ms`` before ``remaining_ms()`` reaches 0.

        ``dry_run``: read headers and report what would be notified; no claim, no send, no
        tag, no cursor. ``on_outcome`` sees each oversize mail's outcome as it happens.
        ``send_stats``: mail the counters to ``ADMIN_EMAIL`` after the run (``"news"``: only
        when the run was :attr:`ScanResult.newsworthy`, for scheduled runs).
        """
        if not dry_run:
            missing = [
                name
                for name, value in (("NOTIFY_FROM", self.settings.notify_from), ("STATE_TABLE", self.state))
                if not value
            ]
            if missing or self.ses is None:
                raise ConfigurationError(f"missing setting(s): {', '.join(missing) or 'SES client'}")
        prefixes = distinct_prefixes(self.settings.scan_prefixes)
        run = _Run(
            self, ScanResult(self.bucket, prefixes), remaining_ms, dry_run, assume_notified, on_outcome
        )
        try:
            run.execute()
        finally:
            run.finish_claims()
        wanted = run.result.newsworthy if send_stats == "news" else send_stats
        if wanted and not dry_run and self.settings.admin_email:
            run.send_stats()
        return run.result


@dataclass
class _Delivery:
    """One mail's notice as this run sends it."""

    claim: Claim
    split_left: int  # extra SES sends left to get around rejected recipients
    told: list[str] = field(default_factory=list)  # SES accepted a send to them in this run
    unrecorded: list[str] = field(default_factory=list)  # told, but not (yet) in the item's `sent`
    # SES rejected a send to the address alone (one recipient): address -> what SES said
    rejected: dict[str, str] = field(default_factory=dict)
    # in a send SES rejected, but not tried alone (the split budget ran out): for the next run
    untried: dict[str, str] = field(default_factory=dict)
    error: VaultmailError | None = None  # what stopped the sending (SES stop, state table)


@dataclass(frozen=True)
class _Unfinished:
    """A claim whose last write failed, tried again at the end of the run."""

    delivery: _Delivery
    key: str
    write: Callable[[], None]
    status: str  # the item's status once the write is done


class _Run:
    """The state of one run (kept apart from the reusable Scanner)."""

    def __init__(
        self,
        scanner: Scanner,
        result: ScanResult,
        remaining_ms: Callable[[], int] | None,
        dry_run: bool,
        assume_notified: Container[str],
        on_outcome: Callable[[MailOutcome], None] | None,
    ) -> None:
        self.sc = scanner
        self.result = result
        self.stats = result.stats
        self.remaining_ms = remaining_ms
        self.dry_run = dry_run
        self.assume_notified = assume_notified
        self.on_outcome = on_outcome
        self.problems: list[str] = []
        self.stop_sending: SesError | None = None
        self.unfinished: list[_Unfinished] = []
        self.owner = scanner.owner or f"scan-{uuid.uuid4().hex[:16]}"

    # -- listing ---------------------------------------------------------------------------

    def execute(self) -> None:
        state = self.sc.state
        use_cursors = state is not None and not self.dry_run
        cursors: dict[str, str | None] = {}
        if use_cursors:
            assert state is not None
            try:
                cursors = {p: state.get_cursor(self.sc.bucket, p) for p in self.result.prefixes}
            except StateError as exc:  # not knowing where to resume, do nothing rather than redo
                self.halt("(cursors)", exc)
                self.result.complete = False
                return
        for prefix in prefix_order(self.result.prefixes, cursors):
            start_after = cursors.get(prefix)
            if start_after:
                log.info("resuming after a cursor", extra={"prefix": prefix, "start_after": start_after})
            stopped_after = self.scan_prefix(prefix, start_after)
            if stopped_after is not None:
                self.result.complete = False
                if use_cursors and stopped_after:
                    self.save_cursor(prefix, stopped_after)
                log.warning(
                    "stopping early (the state table failed); the next run resumes"
                    if self.result.halted
                    else "stopping before the deadline; the next run resumes",
                    extra={"prefix": prefix, "start_after": stopped_after},
                )
                return
            if use_cursors and start_after:
                assert state is not None
                try:
                    state.clear_cursor(self.sc.bucket, prefix)
                except StateError as exc:  # the next run resumes after it once more, then clears it
                    self.problem(f"(cursor of {prefix or '/'})", exc, "could not clear a cursor")

    def save_cursor(self, prefix: str, start_after: str) -> None:
        assert self.sc.state is not None
        try:
            self.sc.state.set_cursor(self.sc.bucket, prefix, start_after)
        except StateError as exc:  # the next run lists the prefix from its start: only costs reads
            self.problem(f"(cursor of {prefix or '/'})", exc, "could not store a cursor")

    def halt(self, where: str, exc: StateError) -> None:
        """The state table failed where the run cannot go on without it: stop, resume next run."""
        self.result.halted = f"state table failed at {where}: {exc.message}"
        self.problem(where, exc, "the state table failed; stopping the run (the next run resumes here)")

    def pages(self, prefix: str, start_after: str | None) -> Iterator[list[Listed]]:
        args: dict[str, Any] = {"Bucket": self.sc.bucket, "PaginationConfig": {"PageSize": PAGE_SIZE}}
        if prefix:
            args["Prefix"] = prefix
        if start_after:
            args["StartAfter"] = start_after
        paginator = self.sc.s3.get_paginator("list_objects_v2")
        where = f"s3://{self.sc.bucket}/{prefix}"
        try:
            with s3io.converted(where):
                for page in paginator.paginate(**args):
                    yield [Listed.from_s3(item) for item in page.get("Contents", [])]
        except (s3io.MailGone, s3io.AccessDenied) as exc:  # no such bucket, or no right to list it
            raise ConfigurationError(f"cannot list {where}: {exc.message}") from exc

    def scan_prefix(self, prefix: str, start_after: str | None) -> str | None:
        """Scan one prefix. Returns None when done, else the key to resume after ("" if none)."""
        last_done = start_after or ""
        for objects in self.pages(prefix, start_after):
            if out_of_time(self.remaining_ms, self.sc.safety_margin_ms):
                return last_done
            ids = candidate_ids(
                objects,
                bucket=self.sc.bucket,
                suffixes=self.sc.settings.scan_suffixes,
                threshold=self.sc.settings.size_threshold_bytes,
            )
            try:
                records = self.sc.state.get_many(ids) if (self.sc.state is not None and ids) else {}
            except StateError as exc:  # resume with this page next run
                self.halt(f"the page after {last_done or prefix or '/'}", exc)
                return last_done
            decisions = plan(
                objects,
                bucket=self.sc.bucket,
                suffixes=self.sc.settings.scan_suffixes,
                threshold=self.sc.settings.size_threshold_bytes,
                records=records,
                now=self.sc.clock(),
                assume_notified=self.assume_notified,
            )
            for decision in decisions:
                if decision.action == "notify" and out_of_time(self.remaining_ms, self.sc.safety_margin_ms):
                    return last_done
                self.apply(decision)
                if self.result.halted:  # this mail was not done: resume with it
                    return last_done
                last_done = decision.obj.key
        return None

    # -- one object ----------------------------------------------------------------------------

    def emit(self, outcome: MailOutcome) -> None:
        self.result.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def apply(self, decision: Decision) -> None:
        obj = decision.obj
        self.stats.scanned += 1
        if decision.action in ("ignore", "small"):
            return
        self.stats.oversize += 1
        self.stats.oversize_bytes += obj.size
        if decision.action == "cold":
            self.stats.cold += 1
            self.emit(MailOutcome(obj.key, obj.size, "cold", error=f"storage class {obj.storage_class}"))
        elif decision.action == "notified":
            self.stats.already_notified += 1
        elif decision.action == "settled":
            self.stats.settled += 1
        elif decision.action == "busy":
            self.stats.in_progress += 1
        elif self.stop_sending is not None and not self.dry_run:
            self.stats.deferred += 1
            self.emit(MailOutcome(obj.key, obj.size, "deferred", error=self.stop_sending.message))
        else:
            assert decision.state_id is not None
            self.notify(obj, decision.state_id)

    def notify(self, obj: Listed, state_id: str) -> None:
        sc = self.sc
        ref = s3io.ObjectRef(sc.bucket, obj.key, etag=obj.etag or None, size=obj.size)
        try:
            headers, read = s3io.read_headers(sc.s3, ref)
        except (NotAMail, s3io.MailGone) as exc:
            self.stats.unreadable += 1
            self.problem(obj.key, exc)
            self.emit(MailOutcome(obj.key, obj.size, "unreadable", error=exc.message))
            if isinstance(exc, NotAMail):  # a deleted object is simply not listed again
                self.settle(obj, state_id, "not a mail")
            return
        except StorageError as exc:
            self.stats.failed += 1
            self.problem(obj.key, exc)
            self.emit(MailOutcome(obj.key, obj.size, "failed", error=exc.message))
            return
        self.stats.bytes_read += read
        outcome = self.describe(obj, headers, read)
        recipients, dropped = recipients_of(headers, sc.settings.allowed_recipient_domains)
        outcome.recipients = tuple(r.addr for r in recipients)
        outcome.dropped = tuple(f"{d.addr} ({d.why})" for d in dropped)
        if not recipients:
            self.stats.no_recipients += 1
            outcome.status = "no-recipients"
            log.warning("oversize mail without a recipient to notify", extra={"key": obj.key})
            self.emit(outcome)
            self.settle(obj, state_id, "no recipient to notify")
            return
        if self.dry_run:
            outcome.status = "would-notify"
            outcome.notices = -(-len(recipients) // MAX_RECIPIENTS)
            self.emit(outcome)
            return
        self.send(obj, state_id, headers, outcome)

    def settle(self, obj: Listed, state_id: str, reason: str) -> None:
        """Nobody to notify: say so once (this run's stats), then stop reading the mail each run."""
        if self.dry_run or self.sc.state is None:
            return
        try:
            self.sc.state.settle(state_id, reason=reason, meta={"key": obj.key})
        except StateError as exc:  # only costs a read next run
            log.warning("could not record a settled mail", extra={"key": obj.key, "error": exc.message})

    def describe(self, obj: Listed, headers: MailHeaders, read: int) -> MailOutcome:
        return MailOutcome(
            key=obj.key,
            size=obj.size,
            status="",
            subject=one_line(headers.subject, 300) or None,
            sender=", ".join(show_mailbox(b) for b in headers.from_) or None,
            date=one_line(headers.date, 100) or None,
            header_bytes_read=read,
        )

    # -- sending one notice ------------------------------------------------------------------
    #
    # claim -> for each send of at most 50 recipients: write ahead (`pending`), send (a send
    # SES rejects is split in halves, within `split_sends` extra sends, so that one address SES
    # refuses does not hold back the others), record who was told (`sent`) -> the addresses
    # SES rejected alone in earlier runs (`rejectedAlone`), if the budget reached everyone
    # else: each alone, within what is left of it -> one last write that ends the claim:
    # `notified`, `failed` (the next run tells the others, and the addresses SES rejected
    # alone join `rejectedAlone`) or `settled` (MAX_REJECTED_RUNS runs ended with nobody left
    # but addresses SES rejected alone). A state write after an
    # accepted send is tried STATE_ATTEMPTS times; if it still fails, the mail stops there
    # (counted failed), the run goes on, and the claim's last write (which also records the
    # recipients told) is tried again at the end of the run. If that fails too, the claim is
    # left to its lease: the run that takes it over counts the `pending` recipients as told.

    def send(self, obj: Listed, state_id: str, headers: MailHeaders, outcome: MailOutcome) -> None:
        sc = self.sc
        state = sc.state
        assert state is not None and sc.settings.notify_from
        try:
            claim = state.claim(
                state_id,
                owner=self.owner,
                lease_seconds=sc.lease_seconds,
                meta={"bucket": sc.bucket, "key": obj.key, "etag": obj.etag.strip('"')},
            )
        except StateError as exc:  # the table is failing: stop, and resume with this mail next run
            self.halt(obj.key, exc)
            return
        if claim is None:
            self.count_taken(state_id)
            return
        delivery = _Delivery(claim, split_left=sc.split_sends)
        try:
            notice = self.deliver(obj, headers, delivery, outcome)
        except BaseException as exc:  # give the mail back at once rather than at lease expiry
            self.release(delivery, f"interrupted: {type(exc).__name__}")
            raise
        self.conclude(obj, delivery, notice, outcome)

    def count_taken(self, state_id: str) -> None:
        """The claim was refused: another run has the mail, or has just finished it."""
        assert self.sc.state is not None
        try:
            record = self.sc.state.get(state_id)
        except StateError:
            record = None
        if record is not None and record.status == NOTIFIED:
            self.stats.already_notified += 1
        elif record is not None and record.status == SETTLED:
            self.stats.settled += 1
        else:
            self.stats.in_progress += 1

    def deliver(self, obj: Listed, headers: MailHeaders, d: _Delivery, outcome: MailOutcome) -> Notice:
        """Sign, compose and send the notice (writing ahead and recording each send).

        Stops at the first error that ends the sending (``d.error``); recipients SES rejects
        alone are collected in ``d.rejected``, those the split budget did not reach in
        ``d.untried``, and the other sends go on. The recipients SES rejected alone in an
        earlier run are sent to last, each alone, and only if the budget reached everyone
        else: no budget is spent on them while others wait.
        """
        sc = self.sc
        assert sc.settings.notify_from
        filename = safe_filename(headers.subject, obj.key)
        expiry = sc.settings.link_expiry_seconds
        notice = compose_notice(
            headers,
            notify_from=sc.settings.notify_from,
            link=sign_link(sc.signer, sc.bucket, obj.key, filename=filename, expiry=expiry),
            expires_at=datetime.fromtimestamp(sc.clock() + expiry, UTC),
            size=obj.size,
            threshold=sc.settings.size_threshold_bytes,
            filename=filename,
            allowed_domains=sc.settings.allowed_recipient_domains,
            already_sent=d.claim.sent,
            apart=d.claim.rejected_alone,
        )
        for email in notice.emails:
            if not (self.begin_send(d, email.recipients) and self.send_part(d, email, outcome)):
                return notice
        if d.untried:  # the budget ran out: the addresses rejected before wait as well
            return notice
        retry = notice.alone[: d.split_left]
        d.split_left -= len(retry)
        if retry and self.begin_send(d, [a for email in retry for a in email.recipients]):
            for email in retry:
                if not self.send_part(d, email, outcome):
                    break
        return notice

    def begin_send(self, d: _Delivery, addresses: Sequence[str]) -> bool:
        assert self.sc.state is not None
        state = self.sc.state
        try:
            self.persist(lambda: state.begin_send(d.claim, addresses))
        except StateError as exc:  # nothing sent: the claim ends (released) without it
            d.error = exc
            return False
        return True

    def send_part(self, d: _Delivery, email: Email, outcome: MailOutcome) -> bool:
        """Send ``email`` (split in halves while SES rejects it); False: stop this mail.

        Only a send to one recipient that SES rejects makes an address rejected
        (``d.rejected``); the recipients of a rejected send the split budget cannot halve
        any more are not tried alone in this run (``d.untried``), whoever SES refuses there.
        """
        assert self.sc.state is not None
        state = self.sc.state
        try:
            send_email(self.sc.ses, email)
        except SesError as exc:
            if exc.stop_run:
                d.error = exc
                return False
            if len(email.recipients) == 1:
                d.rejected[email.recipients[0]] = exc.message
            elif d.split_left >= 2:
                d.split_left -= 2
                return all(self.send_part(d, part, outcome) for part in halves(email))
            else:
                d.untried.update(dict.fromkeys(email.recipients, exc.message))
            return True
        self.stats.notices_sent += 1
        self.stats.recipients_notified += len(email.recipients)
        outcome.notices += 1
        d.told.extend(email.recipients)
        d.unrecorded = list(email.recipients)  # until recorded (also for an exception raised here)
        try:
            d.claim = self.persist(lambda: state.record_sent(d.claim, email.recipients))
        except StateError as exc:  # told but not recorded: send no more for this mail
            d.error = exc
            return False
        d.unrecorded = []
        return True

    def conclude(self, obj: Listed, d: _Delivery, notice: Notice, outcome: MailOutcome) -> None:
        """Count the mail and end its claim: notified, failed (released) or given up (settled)."""
        state = self.sc.state
        assert state is not None
        claim = d.claim
        all_told = set(notice.addresses) <= set(d.told)
        alone = tuple(d.rejected)  # joins the item's `rejectedAlone` with any write that ends the claim
        key = {"key": obj.key}
        if d.error is None and all_told:
            try:
                self.end_claim(d, lambda: state.complete(claim, extra=key), NOTIFIED)
            except StateError as exc:
                self.fail(obj, outcome, exc, "everyone was told, but the state table did not record it")
                if not isinstance(exc, LeaseLost):
                    self.later(d, obj.key, lambda: state.complete(claim, extra=key), NOTIFIED)
                return
            self.notified(obj, d, notice, outcome)
            return
        if isinstance(d.error, LeaseLost):  # another run took the mail over: it finishes it
            self.fail(obj, outcome, d.error)
            return
        if isinstance(d.error, StateError):  # a write ahead or a record failed: end the claim later
            self.fail(obj, outcome, d.error)
            told = tuple(d.unrecorded)
            reason = f"{d.error.reason}: {d.error.message}"
            if all_told:
                self.later(d, obj.key, lambda: state.complete(claim, extra=key, told=told), NOTIFIED)
            else:
                self.later(
                    d,
                    obj.key,
                    lambda: state.release(claim, reason=reason, told=told, rejected_alone=alone),
                    FAILED,
                )
            return
        if isinstance(d.error, SesError):  # throttled, or the sender refused: stop sending
            self.stop_sending = d.error
            self.result.stopped_sending = d.error.message
            self.fail(obj, outcome, d.error)
            reason = f"{d.error.reason}: {d.error.message}"
            write = lambda: state.release(claim, reason=reason, rejected_alone=alone)  # noqa: E731
            self.close(d, obj.key, write, FAILED)
            return
        self.rejected(obj, d, notice, outcome)

    def rejected(self, obj: Listed, d: _Delivery, notice: Notice, outcome: MailOutcome) -> None:
        """Every send was made; SES rejected some: carry on next run, or give up on the mail.

        An address counts as rejected only when SES rejected a send to it alone (in this run
        or an earlier one: ``rejectedAlone``). Recipients the split budget did not reach are
        carried to the next run, and the run is not a rejection run. A run that leaves
        nobody but rejected addresses is one (``rejections``); the ``MAX_REJECTED_RUNS``-th
        gives up (settled, the reason counting the rejected addresses only).
        """
        state = self.sc.state
        assert state is not None
        claim = d.claim
        told = {a.lower() for a in d.told}
        bad = {a.lower() for a in (*claim.rejected_alone, *d.rejected)}
        left = [a for a in notice.addresses if a.lower() not in told]
        shown = sorted(a for a in left if a.lower() in bad)  # rejected alone, not told
        waiting = [a for a in left if a.lower() not in bad]  # not tried alone yet
        names = ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
        said = next(iter([*d.rejected.values(), *d.untried.values()]), "rejected alone before")
        alone = tuple(d.rejected)
        runs = claim.rejections + 1
        self.stats.failed += 1
        write: Callable[[], None]
        if waiting:  # the split budget ran out before them: not a rejection run
            reason = (
                f"SesRejected: {len(waiting)} recipients not tried alone yet (the split budget ran out); "
                f"SES rejected {len(shown)} alone: {said}"
            )
            error: VaultmailError = SesError(
                f"{len(waiting)} of {len(notice.recipients)} recipients not tried alone yet (the split "
                f"budget ran out; the next run tries them): {said}; {len(shown)} rejected by SES alone"
                f"{f' ({names})' if names else ''}; {len(d.told)} told",
                reason="SesRejected",
            )
            outcome.status = "failed"
            write = lambda: state.release(claim, reason=reason, rejected_alone=alone)  # noqa: E731
            status = FAILED
        elif runs >= MAX_REJECTED_RUNS:
            reason = f"SES rejected {len(shown)} recipients after {runs} attempts"
            error = SesError(f"{reason} ({names}: {said}); given up", reason="GaveUp")
            self.stats.gave_up += 1
            outcome.status = "given-up"
            outcome.dropped += tuple(f"{a} (rejected by SES)" for a in shown)
            write = lambda: state.settle_claim(claim, reason=reason, rejected_alone=alone)  # noqa: E731
            status = SETTLED
        else:
            reason = f"SesRejected: SES rejected {len(shown)} of {len(notice.recipients)} recipients: {said}"
            error = SesError(
                f"SES rejected {len(shown)} of {len(notice.recipients)} recipients ({names}: {said}); "
                f"{len(d.told)} told; attempt {runs} of {MAX_REJECTED_RUNS}",
                reason="SesRejected",
            )
            outcome.status = "failed"
            write = lambda: state.release(claim, reason=reason, rejected=True, rejected_alone=alone)  # noqa: E731
            status = FAILED
        outcome.error = error.message
        self.problem(obj.key, error)
        self.emit(outcome)
        self.close(d, obj.key, write, status)

    def notified(self, obj: Listed, d: _Delivery, notice: Notice, outcome: MailOutcome) -> None:
        self.stats.notified += 1
        outcome.status = "notified"
        outcome.recipients = notice.addresses
        log.info(
            "notified",
            extra={
                "key": obj.key,
                "size": obj.size,
                "recipients": len(notice.recipients),
                "sends": outcome.notices,
            },
        )
        if self.sc.tag_objects:
            self.tag(obj)
        self.emit(outcome)

    def fail(self, obj: Listed, outcome: MailOutcome, exc: VaultmailError, what: str = "") -> None:
        self.stats.failed += 1
        self.problem(obj.key, exc)
        outcome.status = "failed"
        outcome.error = f"{what}: {exc.message}" if what else exc.message
        self.emit(outcome)

    # -- state writes ------------------------------------------------------------------------

    def persist(self, write: Callable[[], T]) -> T:
        """``write`` (a state write that is safe to repeat), tried up to ``state_attempts`` times.

        A lost lease is final (not retried); a configuration error is raised at once.
        """
        attempts = self.sc.state_attempts
        for attempt in range(1, attempts + 1):
            try:
                return write()
            except LeaseLost:
                raise
            except StateError as exc:
                if attempt >= attempts:
                    raise
                log.warning("state table write failed; trying again", extra={"error": exc.message})
                self.sc.sleep(STATE_BACKOFF[min(attempt, len(STATE_BACKOFF)) - 1])
        raise AssertionError("unreachable")

    def end_claim(self, d: _Delivery, write: Callable[[], None], status: str) -> None:
        """The write that ends a claim (``status`` once done), tried like :meth:`persist`.

        Such a write is conditional on the claim: after a try that failed but was written
        all the same, the next try finds the claim gone (LeaseLost); the item tells.
        """
        assert self.sc.state is not None
        state = self.sc.state
        failed_before = False

        def attempt() -> None:
            nonlocal failed_before
            try:
                write()
            except LeaseLost:
                if failed_before:
                    try:
                        record = state.get(d.claim.id)
                    except StateError:
                        record = None
                    if record is not None and record.status == status:
                        return
                raise
            except StateError:
                failed_before = True
                raise

        self.persist(attempt)

    def close(self, d: _Delivery, key: str, write: Callable[[], None], status: str) -> None:
        """End a claim now, or if the state table fails, at the end of the run."""
        try:
            self.end_claim(d, write, status)
        except LeaseLost as exc:  # another run has taken the mail over
            log.warning("lost a claim before ending it", extra={"key": key, "error": exc.message})
        except StateError:
            self.later(d, key, write, status)

    def later(self, d: _Delivery, key: str, write: Callable[[], None], status: str) -> None:
        """Try the claim's last write again at the end of the run."""
        self.unfinished.append(_Unfinished(d, key, write, status))

    def finish_claims(self) -> None:
        """The end of the run: the last writes of claims that failed before (never raises)."""
        for item in self.unfinished:
            if out_of_time(self.remaining_ms, self.sc.safety_margin_ms // 2):
                log.error(
                    "no time left to end a claim; it is left to its lease",
                    extra={"key": item.key, "id": item.delivery.claim.id},
                )
                continue
            try:
                self.end_claim(item.delivery, item.write, item.status)
            except VaultmailError as exc:
                # The next run that claims the mail (after the lease) counts the recipients of
                # the send written ahead (`pending`) as told: nobody twice.
                log.error(
                    "could not end a claim; it is left to its lease",
                    extra={"key": item.key, "id": item.delivery.claim.id, "error": exc.message},
                )
            else:
                log.info("ended a claim at the end of the run", extra={"key": item.key, "to": item.status})
        self.unfinished.clear()

    def release(self, d: _Delivery, reason: str) -> None:
        """Give the mail back now (the next run retries), with any recipients told but not recorded."""
        assert self.sc.state is not None
        try:
            self.sc.state.release(d.claim, reason=reason, told=d.unrecorded, rejected_alone=tuple(d.rejected))
        except VaultmailError as exc:  # the lease expires anyway; `pending` covers a send not recorded
            log.warning("could not release a claim", extra={"id": d.claim.id, "error": exc.message})

    def tag(self, obj: Listed) -> None:
        """Best effort: the state table, not the tag, is the source of truth."""
        when = datetime.fromtimestamp(self.sc.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            s3io.tag(self.sc.s3, s3io.ObjectRef(self.sc.bucket, obj.key), {NOTIFIED_TAG: when})
        except StorageError as exc:
            log.warning("could not tag a notified object", extra={"key": obj.key, "error": exc.message})

    def problem(self, key: str, exc: VaultmailError, what: str = "oversize mail not notified") -> None:
        self.problems.append(f"{key}: {exc.reason}: {exc.message}")
        log.warning(what, extra={"key": key, "reason": exc.reason, "error": exc.message})

    # -- the admin's mail ----------------------------------------------------------------------

    def send_stats(self) -> None:
        sc = self.sc
        assert sc.settings.admin_email and sc.settings.notify_from
        where = ", ".join(f"s3://{sc.bucket}/{p}" for p in self.result.prefixes)
        email = compose_stats(
            self.stats.as_dict(),
            notify_from=sc.settings.notify_from,
            admin_email=sc.settings.admin_email,
            where=where,
            started=self.result.started,
            complete=self.result.complete,
            problems=self.problems,
            halted=self.result.halted,
        )
        if not email.to:
            log.warning("ADMIN_EMAIL is not an address SES can send to; no stats mail")
            return
        try:
            send_email(sc.ses, email)
        except SesError as exc:
            log.warning("could not send the stats mail", extra={"reason": exc.reason, "error": exc.message})


__all__ = [
    "DEFAULT_MARGIN_MS",
    "Decision",
    "ImportResult",
    "Listed",
    "MailOutcome",
    "ScanResult",
    "ScanStats",
    "Scanner",
    "candidate_ids",
    "distinct_prefixes",
    "import_woomera",
    "is_oversize",
    "load_woomera",
    "matches",
    "out_of_time",
    "parse_woomera",
    "plan",
    "prefix_order",
    "sign_link",
    "signing_credentials",
]
