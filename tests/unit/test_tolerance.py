"""The outage a queued mail rides out, computed from template.yaml and vaultmail.backoff.

The time from a mail's first failed receive to SQS's move to the dead-letter queue is the sum
of the visibility timeouts the function sets (the backoff) over the queue's maxReceiveCount
receives; it must be at least 6 hours, within the limits AWS puts on queues and Lambda.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

from vaultmail import backoff, runtime
from vaultmail.settings import Settings
from vaultmail_dev.cfn import function_properties

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
SIX_HOURS = 6 * 3600


def sqs_sources() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(function, its properties with Globals merged as SAM does, its SQS event's properties) for
    every SQS-fed function."""
    found = []
    for name, res in RESOURCES.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        function = function_properties(TEMPLATE, name)
        for event in (function.get("Events") or {}).values():
            if event["Type"] == "SQS":
                found.append((name, function, event["Properties"]))
    return found


def queue_of(event: dict[str, Any]) -> dict[str, Any]:
    return dict(RESOURCES[event["Queue"]["Fn::GetAtt"][0]]["Properties"])


def schedule_of(function: dict[str, Any]) -> dict[str, int]:
    """The backoff settings the template gives the function, read as the function reads them."""
    variables = function["Environment"]["Variables"]
    # set by the template (Globals), not Settings' defaults that happen to be equal
    assert {"QUEUE_BACKOFF_BASE_SECONDS", "QUEUE_BACKOFF_CAP_SECONDS"} <= set(variables)
    env = {k: str(v) for k, v in variables.items() if not isinstance(v, dict)}
    settings = Settings.from_env(env)
    return {"base": settings.queue_backoff_base, "cap": settings.queue_backoff_cap}


def test_both_uploaders_are_fed_by_queues() -> None:
    assert {name for name, _, _ in sqs_sources()} >= {"SnsUploaderFunction", "S3UploaderFunction"}


@pytest.mark.parametrize(
    ("name", "function", "event"), sqs_sources(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_queued_mail_rides_out_six_hours_of_outage(
    name: str, function: dict[str, Any], event: dict[str, Any]
) -> None:
    queue = queue_of(event)
    receives = int(queue["RedrivePolicy"]["maxReceiveCount"])
    schedule = schedule_of(function)
    assert schedule == {"base": backoff.BASE_SECONDS, "cap": backoff.CAP_SECONDS}  # the template sets them
    tolerance = backoff.tolerance(receives, **schedule)
    assert tolerance >= SIX_HOURS, f"{name}: {tolerance / 3600:.2f} h"
    # ... and then SQS still holds the message: retention outlasts the worst case of the backoff
    assert backoff.longest(receives, **schedule) < int(queue["MessageRetentionPeriod"])


@pytest.mark.parametrize(
    ("name", "function", "event"), sqs_sources(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_queues_respect_the_limits_of_sqs_and_lambda(
    name: str, function: dict[str, Any], event: dict[str, Any]
) -> None:
    queue = queue_of(event)
    timeout = int(function["Timeout"])
    assert timeout <= backoff.INVOCATION_MAX  # Lambda's longest timeout
    # Lambda refuses an SQS event source whose queue's visibility timeout is below the function's
    # timeout (Lambda Developer Guide, "Using Lambda with Amazon SQS"); 12 h is SQS's maximum
    assert timeout <= int(queue["VisibilityTimeout"]) <= backoff.SQS_MAX_VISIBILITY
    assert int(queue["MessageRetentionPeriod"]) == 1_209_600  # 14 days, SQS's longest
    dlq = RESOURCES[queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Properties"]
    # a message keeps its original enqueue time in the dead-letter queue: give it the full 14 days
    assert int(dlq["MessageRetentionPeriod"]) == 1_209_600
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # the uploaders' executions share the API cap; the scanner's arrivals have a cap of their own
    cap = "ArrivalConcurrency" if name == "OversizeScannerFunction" else "ApiConcurrency"
    assert event["ScalingConfig"]["MaximumConcurrency"] == {"Ref": cap}
    assert 1 <= int(event["BatchSize"]) <= 10


def test_the_idempotency_records_outlive_a_pass_through_the_queue() -> None:
    for _, function, event in sqs_sources():
        receives = int(queue_of(event)["RedrivePolicy"]["maxReceiveCount"])
        assert backoff.longest(receives, **schedule_of(function)) < runtime.IDEMPOTENCY_TTL
