"""What the Lambda handlers share: Powertools Logger and Metrics, cached clients, idempotency.

Handlers stay short: :func:`start` gives them the :class:`~vaultmail.invocation.Invocation`
(a value handed down, never kept here); they parse the event with Powertools' data classes,
turn it into Jobs, call :func:`process` for each with the invocation (or :func:`reject` for
what is not a mail event), and let transient errors raise. An SQS batch goes through
:mod:`vaultmail.queue_batch` first. Nothing here does work at import time beyond creating the
Logger and Metrics objects; clients are made on first use, and cached per execution environment.

Outcomes are stored by Powertools Idempotency and counted (metrics) only by the invocation
that produced them; a duplicate, retried or replayed event logs the stored outcome again
but uploads and counts nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from .errors import ApiKeyRefused, VaultmailError
from .invocation import Invocation
from .secrets import forget_api_key
from .settings import get_settings

if TYPE_CHECKING:  # the uploaders' modules (and requests) load on first use, not for the scanner
    from .jobs import Job
    from .uploader import Outcome, Uploader

# How long an outcome (archived, or rejected for good) is remembered, so that the same event
# uploads nothing twice. It must outlive the last moment the event can come back (template.yaml):
# an EventBridge delivery to the queue may be retried for up to 24 h (the rule's RetryPolicy);
# the message then lives at most 14 days (MessageRetentionPeriod) in its queue and its
# dead-letter queue together (SQS keeps the original enqueue time in the dead-letter queue);
# a redrive puts it back into the queue, where it lives at most 14 days again:
# 24 h + 14 d + 14 d = 29 days, rounded up. tests/unit/test_runtime.py checks this against the
# template's values.
IDEMPOTENCY_TTL = 30 * 24 * 3600

# A queued mail (SQS) is retried briefly in the invocation; then the queue waits (vaultmail.backoff).
# Two attempts per step, at most 1 s apart; a Retry-After over 2 s is the queue's to wait.
QUEUED_ATTEMPTS, QUEUED_MAX_WAIT, QUEUED_BACKOFF_CAP = 2, 2.0, 1.0

# Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE
# (the template sets both); the defaults keep local runs and tests working without them.
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "vaultmail"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Vaultmail"))
copy_config_to_registered_loggers(source_logger=logger, include={"vaultmail"})


def boto3_client(service: str) -> Any:
    import boto3

    return _clients(service, boto3)


@cache
def _clients(service: str, boto3: Any) -> Any:
    from botocore.config import Config

    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 5}))


@cache
def uploader() -> Uploader:
    from .client import UploadClient
    from .secrets import api_key
    from .uploader import Uploader

    settings = get_settings()
    settings.require("primary_domains", "api_endpoint_url")
    client = UploadClient.from_settings(settings, api_key(settings))
    return Uploader(settings, client, boto3_client("s3"))


AFTER_UPLOAD_SECONDS = 10.0  # kept for recording the outcome and tagging the object


@cache
def _idempotent_run() -> Any:
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    settings = get_settings()
    settings.require("state_table")
    assert settings.state_table is not None
    store = DynamoDBPersistenceLayer(table_name=settings.state_table, boto3_client=boto3_client("dynamodb"))
    config = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_TTL, raise_on_no_idempotency_key=True)

    @idempotent_function(data_keyword_argument="key", persistence_store=store, config=config)
    def run_once(*, key: dict[str, Any], work: Callable[[], Outcome]) -> dict[str, Any]:
        return work().as_dict()

    return run_once, config


def start(context: Any, *, queued: bool = False) -> Invocation:
    """Call at the start of each invocation (idempotency needs the remaining time); the
    invocation to hand down to :func:`process`. ``queued``: the event is an SQS batch."""
    try:
        _, config = _idempotent_run()
    except Exception as exc:
        failed(exc)
        raise
    config.register_lambda_context(context)
    return Invocation(context, queued=queued)


def _run(job: Job, invocation: Invocation) -> Outcome:
    """Upload within the invocation's deadline; a queued mail with the short budget (``QUEUED_*``),
    a probe (the API suspected down) with one attempt."""
    up = uploader()

    def time_left() -> float | None:
        left = invocation.seconds_left()
        return None if left is None else left - AFTER_UPLOAD_SECONDS

    with contextlib.ExitStack() as limits:
        limits.enter_context(up.client.deadline(time_left))
        if invocation.queued:
            attempts = 1 if invocation.probe else QUEUED_ATTEMPTS
            limits.enter_context(
                up.client.budget(
                    max_attempts=attempts, max_wait=QUEUED_MAX_WAIT, backoff_cap=QUEUED_BACKOFF_CAP
                )
            )
        return up.run(job)


def process(job: Job, invocation: Invocation) -> Outcome:
    """Archive one job exactly once; record the outcome; re-raise transient and unexpected errors.

    The S3 object is pinned (HEAD) before the job is keyed, so the key names the bytes (version
    or ETag), not only bucket/key. An object already gone is rejected without a tag: what is
    at that key now, if anything, is another mail.
    """
    logger.append_keys(origin=job.origin)
    try:
        if job.s3 is not None:
            job = uploader().pin(job)
    except VaultmailError as exc:
        if exc.transient:
            failed(exc)
            raise
        # the object an unpinned event (an SNS pointer, a batch task) named is gone: no bytes to
        # key by, so the event is the key (a duplicate delivery counts it once)
        return _reject(job.origin, exc, ["gone", job.origin])
    except Exception as exc:
        failed(exc)
        raise
    return _once(job.idempotency_key(), lambda: _run(job, invocation))


def reject(origin: str, exc: VaultmailError, *, what: Any = None) -> dict[str, Any]:
    """Record a permanent failure found before any upload ran (an event or message that is not a mail).

    ``what`` is the rejected input (a record, an event: JSON-serialisable); when given, the
    rejection is stored like an upload's outcome, so Lambda's retries of the event and replays
    of it count it once. Raises only if the state table fails (transient).
    """
    logger.append_keys(origin=origin)
    return _reject(origin, exc, what).as_dict()


def _reject(origin: str, exc: VaultmailError, what: Any) -> Outcome:
    from .uploader import Outcome

    def rejected() -> Outcome:
        return Outcome(origin, "rejected", reason=exc.reason, message=exc.message)

    if what is None:  # nothing stable to key it by: recorded each time
        outcome = rejected()
        record(outcome)
        return outcome
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()
    return _once({"rejected": digest}, rejected)


def _once(key: dict[str, Any], work: Callable[[], Outcome]) -> Outcome:
    """Run ``work`` once per key (Powertools Idempotency); log the outcome, stored or new."""
    from .uploader import Outcome

    ran: list[bool] = []

    def tracked() -> Outcome:
        ran.append(True)
        return work()

    try:
        run_once, _ = _idempotent_run()
        outcome = Outcome.from_dict(run_once(key=key, work=tracked))
    except Exception as exc:
        failed(exc)
        raise
    if ran:  # counted here, once Powertools has stored it: a retry after a failed save counts again
        record(outcome)  # only if this invocation also did the work again
    else:
        logger.info(
            "already done: nothing uploaded (a duplicate, retried or replayed event)",
            extra={"status": outcome.status, "reason": outcome.reason, "upload_id": outcome.upload_id},
        )
    return outcome


def failed(exc: BaseException) -> None:
    """Log and count a failure that makes the event be retried (and then dead-lettered).

    Once per exception: a handler may call it again for what the runtime already reported.
    """
    if getattr(exc, "_vaultmail_reported", False):
        return
    with contextlib.suppress(AttributeError):  # an exception without __dict__ is reported each time
        exc._vaultmail_reported = True  # type: ignore[attr-defined]
    metrics.add_metric(name="UploadFailures", unit=MetricUnit.Count, value=1)
    reason = exc.reason if isinstance(exc, VaultmailError) else type(exc).__name__
    logger.warning(
        "transient failure, the event will be retried",
        extra={"reason": reason, "error": why(exc)},
        exc_info=not isinstance(exc, VaultmailError),  # unexpected: its traceback, for the bug report
    )
    if isinstance(exc, ApiKeyRefused):
        # the next job builds the upload client again, with the secret read again (it may have
        # been fixed), not served from Powertools' cache for up to SECRET_MAX_AGE seconds
        forget_api_key()
        uploader.cache_clear()


def why(exc: BaseException) -> str:
    """One line saying why a job failed: for logs and S3 Batch result strings (never the key)."""
    if isinstance(exc, VaultmailError):
        return f"{exc.reason}: {exc.message}"
    name = type(exc).__name__
    if type(exc).__module__.startswith("aws_lambda_powertools.utilities.idempotency"):
        if name == "IdempotencyAlreadyInProgressError":
            return f"{name}: another invocation is archiving this mail now; retry later"
        return f"{name}: state table: {exc}"
    return f"{name}: unexpected error (the function's log has the traceback)"


def record(outcome: Outcome) -> None:
    """Count and log an outcome produced in this invocation (never the key, never mail content)."""
    if outcome.status == "archived":
        metrics.add_metric(name="MailsArchived", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="BytesArchived", unit=MetricUnit.Bytes, value=outcome.size or 0)
        logger.info(
            "archived",
            extra={"upload_id": outcome.upload_id, "vaults": list(outcome.vaults), "size": outcome.size},
        )
        return
    metrics.add_metric(name="MailsRejected", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=f"Rejected{outcome.reason}", unit=MetricUnit.Count, value=1)
    logger.error(
        "rejected (permanent, not retried)",
        extra={"reason": outcome.reason, "error": outcome.message, "size": outcome.size},
    )


def reset() -> None:
    """Forget cached settings, clients and the API key (tests and local runs that change the env)."""
    get_settings.cache_clear()
    uploader.cache_clear()
    forget_api_key()
    _idempotent_run.cache_clear()
    _clients.cache_clear()
