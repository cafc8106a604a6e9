"""Lambda's SQS event source mapping, emulated on moto's SQS (development and tests only).

For every function of template.yaml with an ``SQS`` event, a poller does what the Lambda
Developer Guide describes for Amazon SQS event sources ("Using Lambda with Amazon SQS",
"Configuring scaling behavior for SQS event source mappings", "Handling errors for an SQS
event source in Lambda"):

* it long-polls the queue and invokes the function *synchronously* with batches of up to
  ``BatchSize`` messages, waiting up to ``MaximumBatchingWindowInSeconds`` to fill a batch
  (a batch also goes when it is full);
* messages it received stay invisible for the queue's ``VisibilityTimeout`` (moto applies
  it, and counts ``ApproximateReceiveCount``);
* with ``ReportBatchItemFailures`` the function's answer ``batchItemFailures`` lists the
  messages that failed: the others are deleted; an invocation error (or an unreadable
  answer) fails the whole batch: nothing is deleted, every message comes back when its
  visibility timeout ends;
* no more than ``ScalingConfig.MaximumConcurrency`` invocations run at once (Lambda's
  pollers do not receive what they cannot invoke, so a capped source is not throttled);
* SQS itself (moto) moves a message to the dead-letter queue once a receive would exceed
  the redrive policy's ``maxReceiveCount``.

Time can be scaled (:func:`scale_sqs_time`): moto's SQS clock then runs ``factor`` times
faster, so every duration of the queues (visibility timeouts, the function's backoff,
retention, batching windows) shrinks by one factor while the functions' own work runs in
real time.

A received batch is in flight until its invocation ends (:class:`InFlight`,
:func:`hold_in_flight`). In AWS a message cannot come back while its invocation still runs:
Lambda ends an invocation at the function's timeout, which must not exceed the queue's
visibility timeout, and AWS asks for six times it (Lambda Developer Guide, "Creating and
configuring an Amazon SQS event source mapping",
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html). Under a scaled
clock the template's 5,400 s are 9 s of real time at 600x, which a slow invocation on a busy
machine outlasts: moto would hand the message out again while its batch runs, count one
receive more (dead-lettering it early, after ``maxReceiveCount`` receives that are not
invocations) and run it twice at once. So the event source keeps the messages of a running
invocation invisible, from their receive until their deletes are done: it never writes a
visibility (the hold only hides, never shortens or moves the timeout moto keeps), and a
message whose visibility the function changes itself (``ChangeMessageVisibility``: its
backoff) leaves the hold at once, so the function's own timeout applies exactly. One limit,
documented rather than emulated: a message the function neither deleted nor delayed, whose
invocation outlasted the scaled visibility timeout, is visible as soon as the hold ends (in
AWS, the rest of the timeout). The batching window needs nothing more: it shrinks with the
clock like the timeout, and the messages it gathers are held from their receive.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"


def lambda_record(msg: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message (as ReceiveMessage gives it, with ``AttributeNames=["All"]``) in the
    shape Lambda's event source hands to the function (Lambda Developer Guide, "Example
    standard queue message event")."""
    attributes = msg.get("Attributes") or {}
    return {
        "messageId": msg["MessageId"],
        "receiptHandle": msg["ReceiptHandle"],
        "body": msg["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in (msg.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": msg.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else REGION,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {"Records": [lambda_record(m, queue_arn) for m in messages]}


def receive(
    sqs: Any, url: str, *, count: int = 10, wait: int = 0, visibility: int | None = None
) -> list[dict[str, Any]]:
    """One ReceiveMessage call with what the event source asks for (all attributes)."""
    extra = {} if visibility is None else {"VisibilityTimeout": visibility}
    answer = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=count,
        WaitTimeSeconds=wait,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
        **extra,
    )
    return list(answer.get("Messages", []))


def failed_ids(answer: Any, batch: list[dict[str, Any]]) -> set[str] | None:
    """The message ids a partial batch response reports as failed; None: the whole batch failed.

    As Lambda reads the answer ("Reporting batch item failures"): no answer, an empty one or
    an empty list is a complete success; an identifier that is empty, missing or not in the
    batch fails the whole batch.
    """
    if answer is None or answer == {} or answer == "":
        return set()
    if not isinstance(answer, dict):
        return None
    items = answer.get("batchItemFailures")
    if items is None:
        return set()
    ids = {m["MessageId"] for m in batch}
    failed: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in ids:
            return None
        failed.add(ident)
    return failed


# -- time -----------------------------------------------------------------------------------


@contextmanager
def scale_sqs_time(factor: float) -> Iterator[Callable[[], float]]:
    """Inside the block, moto's SQS (in this process) runs on a clock ``factor`` times faster.

    Yields that clock (seconds, like ``time.time``). Only moto's SQS models read it; every
    visibility timeout, delay, retention period and long poll of moto's queues is therefore
    ``factor`` times shorter in real time.
    """
    import moto.sqs.models as sqs_models

    start_real = time.time()

    def now(dt: Any = None) -> float:
        return start_real + (time.time() - start_real) * factor

    def now_millis(dt: Any = None) -> float:
        return now() * 1000

    saved = (sqs_models.unix_time, sqs_models.unix_time_millis)
    models: Any = sqs_models  # replaced for a while, signatures kept
    models.unix_time, models.unix_time_millis = now, now_millis
    try:
        yield now
    finally:
        models.unix_time, models.unix_time_millis = saved


class InFlight:
    """The receipt handles of the messages whose invocation (or batching window) is running."""

    def __init__(self) -> None:
        self._handles: set[str] = set()
        self._lock = threading.Lock()

    def hold(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._handles.update(m["ReceiptHandle"] for m in messages)

    def release(self, messages: list[dict[str, Any]]) -> None:
        with self._lock:
            self._handles.difference_update(m["ReceiptHandle"] for m in messages)

    def forget(self, handle: str | None) -> None:
        """The function set this message's visibility itself: its timeout applies, not the hold."""
        with self._lock:
            self._handles.discard(handle or "")

    def held(self, handle: str | None) -> bool:
        return handle in self._handles


@contextmanager
def hold_in_flight() -> Iterator[InFlight]:
    """Inside the block, moto's SQS (in this process) hides the messages :class:`InFlight` holds.

    A held message is not visible (so not received again, nor dead-lettered) whatever moto's
    clock says; ``ChangeMessageVisibility`` on it ends its hold (a new receive gives a new
    receipt handle, never held). Nothing else of moto changes.
    """
    import moto.sqs.models as sqs_models

    in_flight = InFlight()
    message: Any = sqs_models.Message  # two members replaced for a while, signatures kept
    visible, change = message.visible, message.change_visibility

    def still_visible(msg: Any) -> bool:
        return bool(visible.fget(msg)) and not in_flight.held(msg.receipt_handle)

    def change_visibility(msg: Any, visibility_timeout: int) -> None:
        in_flight.forget(msg.receipt_handle)
        change(msg, visibility_timeout)

    message.visible, message.change_visibility = property(still_visible), change_visibility
    try:
        yield in_flight
    finally:
        message.visible, message.change_visibility = visible, change


# -- the event source -----------------------------------------------------------------------


@dataclass
class SourceSpec:
    """One ``SQS`` event of a function in template.yaml, resolved."""

    function: str  # logical id
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window: float = 0.0
    max_concurrency: int | None = None
    report_failures: bool = False


@dataclass
class Stats:
    """What a source did: invocations, their concurrency, messages deleted or returned."""

    invocations: int = 0
    errors: int = 0
    messages: int = 0
    deleted: int = 0
    returned: int = 0
    running: int = 0
    peak_running: int = 0
    busy_seconds: float = 0.0
    longest_seconds: float = 0.0  # the longest invocation
    answers: list[Any] = field(default_factory=list)


class EventSource:
    """Polls one queue and invokes one function, as Lambda's event source mapping does."""

    def __init__(
        self,
        spec: SourceSpec,
        sqs: Any,
        invoke: Callable[[dict[str, Any]], Any],
        *,
        clock: Callable[[], float] = time.time,
        workers: int | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        """``invoke(event)`` runs the function synchronously and returns its answer (raising
        for a function error). ``workers``: how many invocations may run at once (an execution
        environment each); at most ``MaximumConcurrency``. ``in_flight`` (from
        :func:`hold_in_flight`): holds each batch from its receive until its invocation ends."""
        self.spec = spec
        self.sqs = sqs
        self.invoke = invoke
        self.clock = clock
        self.in_flight = in_flight
        cap = spec.max_concurrency or 1000
        self.slots = threading.BoundedSemaphore(min(cap, workers or cap))
        self.stats = Stats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._poller: threading.Thread | None = None

    def start(self) -> EventSource:
        self._poller = threading.Thread(target=self._poll, name=f"esm-{self.spec.function}", daemon=True)
        self._poller.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
        for thread in self._threads:
            thread.join(timeout=30)

    def idle(self) -> bool:
        with self._lock:
            return self.stats.running == 0

    def _poll(self) -> None:
        while not self._stop.is_set():
            if not self.slots.acquire(timeout=0.05):  # no execution free: receive nothing
                continue
            try:
                batch = self._gather()
            except Exception:  # moto stopped under us (shutdown)
                self.slots.release()
                time.sleep(0.05)
                continue
            if not batch:
                self.slots.release()
                continue
            thread = threading.Thread(target=self._run, args=(batch,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _gather(self) -> list[dict[str, Any]]:
        """A batch: up to BatchSize messages, waiting up to the batching window (SQS time)."""
        spec = self.spec
        batch = self._receive(count=min(10, spec.batch_size), wait=1)
        if not batch or spec.batching_window <= 0:
            return batch
        window_ends = self.clock() + spec.batching_window
        while len(batch) < spec.batch_size and self.clock() < window_ends and not self._stop.is_set():
            try:
                more = self._receive(count=min(10, spec.batch_size - len(batch)))
            except Exception:  # moto stopped under us: the batch so far (held) is invoked
                break
            if not more:
                time.sleep(0.01)
            batch += more
        return batch

    def _receive(self, *, count: int, wait: int = 0) -> list[dict[str, Any]]:
        got = receive(self.sqs, self.spec.queue_url, count=count, wait=wait)
        if self.in_flight is not None:
            self.in_flight.hold(got)
        return got

    def _run(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._invoke(batch)
        finally:
            if self.in_flight is not None:
                self.in_flight.release(batch)
            self.slots.release()

    def _invoke(self, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self.stats.running += 1
            self.stats.peak_running = max(self.stats.peak_running, self.stats.running)
            self.stats.invocations += 1
            self.stats.messages += len(batch)
        started = time.perf_counter()
        failed: set[str] | None
        answer: Any = None
        try:
            answer = self.invoke(sqs_event(batch, self.spec.queue_arn))
            failed = failed_ids(answer, batch) if self.spec.report_failures else set()
        except Exception:  # a function error: the whole batch comes back
            failed = None
        finally:
            elapsed = time.perf_counter() - started
        keep = {m["MessageId"] for m in batch} if failed is None else failed
        done = [m for m in batch if m["MessageId"] not in keep]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start : start + 10])
            ]
            self.sqs.delete_message_batch(QueueUrl=self.spec.queue_url, Entries=entries)
        with self._lock:
            self.stats.running -= 1
            self.stats.busy_seconds += elapsed
            self.stats.longest_seconds = max(self.stats.longest_seconds, elapsed)
            self.stats.errors += failed is None
            self.stats.deleted += len(done)
            self.stats.returned += len(batch) - len(done)
            if len(self.stats.answers) < 1000:
                self.stats.answers.append(answer)


def body_of(msg: dict[str, Any]) -> Any:
    """A message body as JSON when it is JSON (dead-letter queues hold the original bodies)."""
    try:
        return json.loads(msg["Body"])
    except ValueError:
        return msg["Body"]
