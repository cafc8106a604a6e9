"""The invocation being served, as a value handed down from the handler (never a module global)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Invocation:
    """A Lambda invocation: its context (None in a shell or a test without one), and whether
    its event is an SQS batch (``queued``: uploads then retry briefly; the queue waits instead).
    Frozen: the batch processor hands each message its own (``dataclasses.replace``)."""

    context: Any = None
    queued: bool = False
    # a queued mail tried while the upload API is suspected down (a mail before it in the batch
    # failed, queue_batch.OutageWatch): one attempt per step, no wait; the queue retries it
    probe: bool = False

    def seconds_left(self) -> float | None:
        """Seconds until the invocation's deadline, or None when there is none."""
        remaining = getattr(self.context, "get_remaining_time_in_millis", None)
        return None if remaining is None else float(remaining()) / 1000
