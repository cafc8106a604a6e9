"""The invocation being served, as a value handed down from the handler (never a module global)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Invocation:
    """A Lambda invocation: its context (None in a shell or a test without one), and whether
    its event is an SQS batch (``queued``: uploads then retry briefly; the queue waits instead)."""

    context: Any = None
    queued: bool = False

    def seconds_left(self) -> float | None:
        """Seconds until the invocation's deadline, or None when there is none."""
        remaining = getattr(self.context, "get_remaining_time_in_millis", None)
        return None if remaining is None else float(remaining()) / 1000
