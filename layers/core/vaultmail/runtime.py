"""What the Lambda handlers share: Powertools Logger and Metrics, cached clients, idempotency.

Handlers stay short: parse the event with Powertools' data classes, turn it into Jobs,
call :func:`process` for each, and let transient errors raise. Nothing here does work at
import time beyond creating the Logger and Metrics objects; clients are made on first use.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from .errors import ApiKeyRefused, VaultmailError
from .settings import get_settings

if TYPE_CHECKING:  # the uploaders' modules (and requests) load on first use, not for the scanner
    from .jobs import Job
    from .uploader import Outcome, Uploader

IDEMPOTENCY_TTL = 7 * 24 * 3600  # a duplicate or replayed event within a week uploads nothing

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
    def run_once(*, key: dict[str, Any], job: Job) -> dict[str, Any]:
        return uploader().run(job).as_dict()

    return run_once, config


def start(context: Any) -> None:
    """Call at the start of each invocation (idempotency needs the remaining time)."""
    _, config = _idempotent_run()
    config.register_lambda_context(context)


def process(job: Job) -> Outcome:
    """Archive one job exactly once; record the outcome; re-raise transient errors."""
    from .uploader import Outcome

    run_once, _ = _idempotent_run()
    logger.append_keys(origin=job.origin)
    try:
        outcome = Outcome.from_dict(run_once(key=job.idempotency_key(), job=job))
    except VaultmailError as exc:
        metrics.add_metric(name="UploadFailures", unit=MetricUnit.Count, value=1)
        logger.warning(
            "transient failure, the event will be retried", extra={"reason": exc.reason, "error": exc.message}
        )
        if isinstance(exc, ApiKeyRefused):
            uploader.cache_clear()  # fetch the key again on the next invocation
        raise
    record(outcome)
    return outcome


def reject(origin: str, exc: VaultmailError) -> dict[str, Any]:
    """Record a permanent failure found before any job ran (a message that is not a mail)."""
    from .uploader import Outcome

    outcome = Outcome(origin, "rejected", reason=exc.reason, message=exc.message)
    record(outcome)
    return outcome.as_dict()


def record(outcome: Outcome) -> None:
    """Log and count an outcome (never the key, never mail content)."""
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
    _idempotent_run.cache_clear()
    _clients.cache_clear()
