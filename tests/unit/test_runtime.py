"""What the handlers share: how long outcomes are remembered, how failures are described."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)
from samcli.yamlhelper import yaml_parse

from vaultmail import runtime
from vaultmail.errors import UploadFailed

ROOT = Path(__file__).resolve().parents[2]
QUEUES = ("SnsUploaderQueue", "S3UploaderQueue")
DEFAULT_EVENTBRIDGE_RETRY_AGE = 86400  # EventBridge's retry policy when a target sets none


def _resource(ref: Any) -> str:
    """The logical id in ``!GetAtt Name.Arn`` (parsed as ``{"Fn::GetAtt": ...}``)."""
    att = ref["Fn::GetAtt"]
    return str(att[0] if isinstance(att, list) else att.split(".")[0])


def test_idempotency_outlives_every_way_an_event_can_come_back() -> None:
    """A redrive from the dead-letter queue at its last moment must still find the stored outcome."""
    resources = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]
    queues = {q: resources[q]["Properties"] for q in QUEUES}
    dlqs = {_resource(p["RedrivePolicy"]["deadLetterTargetArn"]) for p in queues.values()}
    retention = max(int(resources[q]["Properties"]["MessageRetentionPeriod"]) for q in [*QUEUES, *dlqs])
    delivery_age = max(
        (
            int(target.get("RetryPolicy", {}).get("MaximumEventAgeInSeconds", DEFAULT_EVENTBRIDGE_RETRY_AGE))
            for rule in resources.values()
            if rule["Type"] == "AWS::Events::Rule"
            for target in rule["Properties"]["Targets"]
            if isinstance(target["Arn"], dict) and _resource(target["Arn"]) in QUEUES
        ),
        default=0,
    )
    assert delivery_age == 24 * 3600 and retention == 14 * 24 * 3600  # what the comment in runtime.py says
    # EventBridge's retries, the queue and its DLQ (one enqueue time), then the redriven message again
    assert delivery_age + retention + retention <= runtime.IDEMPOTENCY_TTL


def test_why_names_the_failure_never_an_unexpected_message() -> None:
    assert runtime.why(UploadFailed("slot request failed")) == "UploadFailed: slot request failed"
    busy = runtime.why(
        IdempotencyAlreadyInProgressError("Execution already in progress with idempotency key")
    )
    assert busy.startswith("IdempotencyAlreadyInProgressError: another invocation")
    table = runtime.why(
        IdempotencyPersistenceLayerError("Failed to save", Exception("ResourceNotFoundException"))
    )
    assert table.startswith("IdempotencyPersistenceLayerError: state table:") and "ResourceNotFound" in table
    bug = runtime.why(RuntimeError("x-api-key: s3cr3t"))
    assert bug.startswith("RuntimeError") and "s3cr3t" not in bug
