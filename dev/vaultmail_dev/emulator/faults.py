"""Fault injection: the rules a test or a demo adds to make the API or a slot misbehave.

A rule answers an error (``status``, ``code``, ``retryAfter``), resets the connection
(``action: reset``, optionally after ``afterBytes`` of the body) or delays the answer
(``action: delay``), for the next ``times`` requests to its target (``uploads`` or ``slot``).
With ``vault`` (uploads only) it applies only to slot requests naming that vault: one vault (a
bad shard) failing while the others are served.
With ``afterStore`` (slot only) the slot stores the mail first and then misbehaves: the answer
is lost (a reset, a delay past the client's read timeout) or an error, though the mail is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from .contract import TARGETS, ApiError, Target, default_code


@dataclass
class FaultRule:
    """One injected fault: an error answer, a connection reset, or a delay."""

    target: Target
    status: int | None = None
    action: Literal["reset", "delay"] | None = None
    times: int = 1
    retry_after: float | None = None
    code: str | None = None
    message: str | None = None
    seconds: float = 0.0
    after_bytes: int = 0  # reset: request body bytes read before the reset
    after_store: bool = False  # slot: store the mail, then apply the rule instead of answering
    vault: str | None = None  # uploads: only slot requests that name this vault

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        """Validate a rule given as JSON (``retryAfter``, ``afterBytes`` in camelCase)."""
        if isinstance(data, FaultRule):
            rule = FaultRule(**data.__dict__)
            rule.validate()
            return rule
        if not isinstance(data, dict):
            raise ValueError("a fault rule must be a JSON object")
        known = {
            "target",
            "status",
            "action",
            "times",
            "retryAfter",
            "code",
            "message",
            "seconds",
            "afterBytes",
            "afterStore",
            "vault",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault rule key(s): {', '.join(unknown)}")
        rule = cls(
            target=cast(Target, data.get("target")),
            status=data.get("status"),
            action=data.get("action"),
            times=data.get("times", 1),
            retry_after=data.get("retryAfter"),
            code=data.get("code"),
            message=data.get("message"),
            seconds=data.get("seconds", 0.0),
            after_bytes=data.get("afterBytes", 0),
            after_store=data.get("afterStore", False),
            vault=data.get("vault"),
        )
        rule.validate()
        return rule

    def validate(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}")
        if self.action not in (None, "reset", "delay"):
            raise ValueError("action must be reset or delay")
        if self.status is None and self.action is None:
            raise ValueError("a fault rule needs a status or an action")
        if self.status is not None and (not _is_int(self.status) or not 400 <= self.status <= 599):
            raise ValueError("status must be an integer from 400 to 599")
        if self.action == "reset" and self.status is not None:
            raise ValueError("a reset rule cannot have a status")
        if not _is_int(self.times) or self.times < 1:
            raise ValueError("times must be a positive integer")
        if self.retry_after is not None and not _is_number(self.retry_after, minimum=0):
            raise ValueError("retryAfter must be a number of seconds")
        if not _is_number(self.seconds, minimum=0) or (self.action == "delay" and not self.seconds):
            raise ValueError("a delay rule needs seconds > 0")
        if not _is_int(self.after_bytes) or self.after_bytes < 0:
            raise ValueError("afterBytes must be a non-negative integer")
        if not isinstance(self.after_store, bool):
            raise ValueError("afterStore must be true or false")
        if self.after_store and (self.target != "slot" or self.after_bytes):
            raise ValueError("afterStore applies to the slot target, without afterBytes")
        if self.vault is not None and (self.target != "uploads" or not isinstance(self.vault, str)):
            raise ValueError("vault (a string) applies to the uploads target")
        for name in ("code", "message"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"target": self.target, "times": self.times}
        optional = {
            "status": self.status,
            "action": self.action,
            "retryAfter": self.retry_after,
            "code": self.code,
            "message": self.message,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        if self.action == "delay":
            data["seconds"] = self.seconds
        if self.after_bytes:
            data["afterBytes"] = self.after_bytes
        if self.after_store:
            data["afterStore"] = True
        if self.vault is not None:
            data["vault"] = self.vault
        return data

    def error(self, target: Target) -> ApiError:
        status = self.status or 500
        headers = {}
        if self.retry_after is not None:
            retry = self.retry_after
            headers["Retry-After"] = str(int(retry)) if float(retry).is_integer() else str(retry)
        message = self.message or f"injected fault on {target}"
        return ApiError(status, self.code or default_code(status), message, headers=headers)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any, *, minimum: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= minimum

