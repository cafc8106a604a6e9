"""How long a mail waits in its SQS queue after a transient failure (pure: arithmetic only).

A queued mail that failed for a reason that may pass (the API down, throttling, a refused
key) is not retried inside the invocation for long: its message is made invisible for
:func:`delay` seconds (``ChangeMessageVisibility``) and reported as a batch item failure, so
that waiting costs no execution. The delay doubles with the message's receive count
(``ApproximateReceiveCount``) from ``base`` up to ``cap``, honours a ``Retry-After`` the API
sent, and never exceeds what SQS allows. After ``maxReceiveCount`` receives (the queue's
redrive policy in template.yaml) SQS moves the message to the dead-letter queue:
:func:`tolerance` is how long an outage can last before that happens.

AWS limits (Amazon SQS Developer Guide, "Amazon SQS visibility timeout"): a visibility
timeout is 0 to 43,200 seconds (12 hours), counted from when the message was received, so
the delay keeps :data:`INVOCATION_MAX` (the longest a Lambda invocation may run) in reserve.
"""

from __future__ import annotations

import math

BASE_SECONDS = 60  # the first wait (the template sets QUEUE_BACKOFF_BASE_SECONDS to it)
CAP_SECONDS = 1800  # the longest scheduled wait (QUEUE_BACKOFF_CAP_SECONDS): a mail comes back
# at most 30 minutes after the API does
JITTER = 0.2  # up to +20 %: a queue full of mails does not come back in one wave
SQS_MAX_VISIBILITY = 43_200  # 12 hours, from the receive
INVOCATION_MAX = 900  # Lambda's longest timeout: the receive may be that old when the delay is set
MAX_DELAY = SQS_MAX_VISIBILITY - INVOCATION_MAX


def scheduled(receive_count: int, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> float:
    """The wait after the ``receive_count``-th receive failed, before jitter and Retry-After."""
    if receive_count < 1:
        raise ValueError("receive counts start at 1")
    if base <= 0 or cap < base:
        raise ValueError("the backoff needs 0 < base <= cap")
    doublings = min(receive_count - 1, 64)  # 2**64 * base is past any cap
    return float(min(cap, base * 2**doublings))


def delay(
    receive_count: int,
    *,
    retry_after: float | None = None,
    jitter: float = 0.0,
    base: float = BASE_SECONDS,
    cap: float = CAP_SECONDS,
) -> int:
    """Whole seconds to keep the message invisible (what ChangeMessageVisibility takes).

    ``jitter`` is a number in [0, 1) (``random.random()``); it only lengthens the wait, so
    :func:`tolerance` (computed without it) is a lower bound. A ``Retry-After`` longer than
    the schedule wins; nothing exceeds :data:`MAX_DELAY`.
    """
    if not 0.0 <= jitter < 1.0:
        raise ValueError("jitter must be in [0, 1)")
    wait = scheduled(receive_count, base=base, cap=cap) * (1.0 + JITTER * jitter)
    if retry_after is not None and retry_after > wait:
        wait = retry_after
    return int(min(MAX_DELAY, math.ceil(wait)))


def tolerance(max_receive_count: int, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> int:
    """Seconds from a message's first failed receive until SQS dead-letters it, at the least.

    The sum of the waits after each of the ``max_receive_count`` receives: SQS moves the
    message when a receive would exceed ``maxReceiveCount`` ("Using dead-letter queues in
    Amazon SQS"). The invocations' own run time only adds to it.
    """
    if max_receive_count < 1:
        raise ValueError("maxReceiveCount is at least 1")
    return sum(delay(n, base=base, cap=cap) for n in range(1, max_receive_count + 1))


def longest(max_receive_count: int, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> int:
    """Seconds at most between the first receive and the dead-letter queue (full jitter and
    Retry-After at its cap on every receive, invocations at Lambda's longest): what the
    idempotency records must outlive for one pass through the queue."""
    del base, cap  # a long Retry-After can take every receive to MAX_DELAY
    return max_receive_count * (MAX_DELAY + INVOCATION_MAX)
