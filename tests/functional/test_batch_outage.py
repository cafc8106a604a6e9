"""One mail's failure never starves its batch-mates; an outage still fails a batch fast (issue 17.3).

The emulator's fault rules: ``vault`` makes the API answer 503 for the slot requests naming one
vault only (a bad shard), the others served; without it, for every request. Bounded by the work
done (requests the API received, mails archived), never by the clock.
"""

from __future__ import annotations

from typing import Any

from vaultmail import queue_batch, runtime
from vaultmail_dev.esm import receive, sqs_event
from vaultmail_dev.mails import mail

from .lambdas import FakeContext, LambdaWorld, load_handler, queue_for

SNS_APP = load_handler("sns_uploader")


def _batch(w: LambdaWorld, recipients: list[str]) -> dict[str, Any]:
    url, arn = queue_for(w.sqs, "sns-uploader-queue")
    w.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5400"})
    w.sns.subscribe(TopicArn=w.topic, Protocol="sqs", Endpoint=arn)
    for i, to in enumerate(recipients):
        # from outside the primary domain: each mail's one vault is its recipient
        message = mail(f"mail {i} to {to}", sender="Partner <p@partner.example>", to=to)
        w.sns.publish(TopicArn=w.topic, Message=message.decode())
    msgs = receive(w.sqs, url)
    assert len(msgs) == len(recipients)
    msgs.sort(key=lambda m: recipients.index(_to(m["Body"])))  # the batch in the order published
    return sqs_event(msgs, arn)


def _to(body: str) -> str:
    import json

    text = json.loads(body)["Message"]
    return next(line[4:].strip() for line in text.splitlines() if line.startswith("To: "))


def test_two_mails_of_a_failing_vault_leave_the_other_two_archived_at_once(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    recipients = ["bad@acme.com", "bad@acme.com", "amit@acme.com", "ops@acme.com"]
    event = _batch(lambda_world, recipients)
    emulator.add_faults([{"target": "uploads", "status": 503, "times": 10**6, "vault": "bad@acme.com"}])
    answer = SNS_APP.lambda_handler(event, FakeContext())
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed == {r["messageId"] for r in event["Records"][:2]}  # the two of the bad vault only
    assert sorted(v for r in emulator.records() for v in r["vaults"]) == ["amit@acme.com", "ops@acme.com"]
    # the first bad mail's attempts; then, the API suspected down, one request for each next mail
    # until one is archived (a probe: no retry, no wait); the last good one a request
    assert emulator.hits["uploads"] == runtime.QUEUED_ATTEMPTS + 3


def test_the_api_down_for_everyone_still_fails_the_batch_fast(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    recipients = [f"user{i}@acme.com" for i in range(10)]
    event = _batch(lambda_world, recipients)
    emulator.add_faults([{"target": "uploads", "status": 503, "times": 10**6}])
    answer = SNS_APP.lambda_handler(event, FakeContext())
    assert len(answer["batchItemFailures"]) == 10
    # two mails of different vaults failed alike (the second a probe: one request); the other
    # eight deferred without a request
    assert emulator.hits["uploads"] == runtime.QUEUED_ATTEMPTS + queue_batch.OUTAGE_AFTER_MAILS - 1
    assert emulator.records() == []


def test_a_connection_failure_stops_the_batch_after_one_mail(
    lambda_world: LambdaWorld, emulator: Any
) -> None:
    event = _batch(lambda_world, ["a@acme.com", "b@acme.com", "c@acme.com"])
    emulator.add_faults([{"target": "uploads", "action": "reset", "times": 10**6}])
    answer = SNS_APP.lambda_handler(event, FakeContext())
    assert len(answer["batchItemFailures"]) == 3
    assert emulator.hits["uploads"] == runtime.QUEUED_ATTEMPTS  # no answer at all: nobody escapes it
