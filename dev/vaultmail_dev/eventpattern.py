"""A pure evaluator of EventBridge event patterns (content filtering), for tests and the local stack.

moto 5.2's TestEventPattern returns no result, so the template's rule is checked here. The
rules follow AWS's documentation:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html and
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html

* every field of the pattern must match (AND); the values of a field are alternatives (OR);
  ``"$or": [pattern, ...]`` is an OR of whole sub-patterns;
* a pattern's leaf is an array; an event value that is an array matches when any element does;
* exact values match by JSON type and value (numbers numerically, strings case-sensitively);
* ``prefix`` / ``suffix`` (a string, or ``{"equals-ignore-case": s}``), ``equals-ignore-case``,
  ``wildcard`` (``*`` matches any run of characters, ``\\*`` a star) match strings only;
* ``numeric`` (``[op, n]`` or ``[op, n, op, n]``, ops ``= > >= < <=``) matches JSON numbers only;
* ``exists: true`` matches a present field (not null, not an object), ``exists: false`` an
  absent one; every other matcher needs the field present;
* ``anything-but`` takes a value, a list of values, or a ``prefix`` / ``suffix`` /
  ``equals-ignore-case`` / ``wildcard`` matcher, and matches a present value that does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_MISSING = object()
_OPS = {
    "=": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


class PatternError(ValueError):
    """Not a valid event pattern (EventBridge would refuse the rule)."""


def matches(pattern: Mapping[str, Any] | str, event: Mapping[str, Any] | str) -> bool:
    """Whether ``event`` matches ``pattern`` (either may be JSON text)."""
    p = json.loads(pattern) if isinstance(pattern, str) else pattern
    e = json.loads(event) if isinstance(event, str) else event
    if not isinstance(p, Mapping):
        raise PatternError("an event pattern is a JSON object")
    return _object(p, e)


def _object(pattern: Mapping[str, Any], event: Any) -> bool:
    for name, expected in pattern.items():
        if name == "$or":
            if not isinstance(expected, list) or len(expected) < 2:
                raise PatternError("$or takes a list of at least two patterns")
            if not any(_object(alt, event) for alt in expected):
                return False
            continue
        value = event.get(name, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not (isinstance(value, Mapping) and _object(expected, value)):
                return False
        elif isinstance(expected, list):
            if not _field(expected, value):
                return False
        else:
            raise PatternError(f"the pattern's value of {name!r} must be an array or an object")
    return True


def _field(alternatives: Sequence[Any], value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(_one(m, v) for m in alternatives for v in values) or (
        isinstance(value, list) and not value and any(_is_exists(m, False) for m in alternatives)
    )


def _is_exists(matcher: Any, flag: bool) -> bool:
    return isinstance(matcher, Mapping) and matcher.get("exists") is flag


def _one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return value is not _MISSING and _same(matcher, value)
    if len(matcher) != 1:
        raise PatternError(f"one operator per matcher, got {sorted(matcher)}")
    ((op, arg),) = matcher.items()
    if op == "exists":
        present = value is not _MISSING and value is not None and not isinstance(value, Mapping)
        return present if arg is True else (value is _MISSING)
    if value is _MISSING:
        return False
    if op == "numeric":
        return _numeric(arg, value)
    if op == "anything-but":
        return _anything_but(arg, value)
    return _string_op(op, arg, value)


def _same(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    if isinstance(expected, int | float) and isinstance(value, int | float):
        return float(expected) == float(value)
    return type(expected) is type(value) and expected == value


def _string_op(op: str, arg: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if op == "equals-ignore-case":
        return isinstance(arg, str) and value.lower() == arg.lower()
    if op in ("prefix", "suffix"):
        if isinstance(arg, Mapping):
            text = arg.get("equals-ignore-case")
            if not isinstance(text, str) or len(arg) != 1:
                raise PatternError(f"{op} takes a string or {{'equals-ignore-case': string}}")
            value, arg = value.lower(), text.lower()
        if not isinstance(arg, str):
            raise PatternError(f"{op} takes a string")
        return value.startswith(arg) if op == "prefix" else value.endswith(arg)
    if op == "wildcard":
        if not isinstance(arg, str):
            raise PatternError("wildcard takes a string")
        return _wildcard(arg).fullmatch(value) is not None
    raise PatternError(f"unknown matcher {op!r}")


def _wildcard(pattern: str) -> re.Pattern[str]:
    parts, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            if pattern[i + 1 : i + 2] == "*":
                raise PatternError("consecutive wildcard characters are not allowed")
            parts.append(".*")
        else:
            parts.append(re.escape(c))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _numeric(arg: Any, value: Any) -> bool:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise PatternError("numeric takes [op, number] or [op, number, op, number]")
    for op, bound in zip(arg[::2], arg[1::2], strict=True):
        if op not in _OPS or isinstance(bound, bool) or not isinstance(bound, int | float):
            raise PatternError(f"numeric: {op!r} {bound!r} (a number must be a JSON number)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return all(_OPS[op](float(value), float(bound)) for op, bound in zip(arg[::2], arg[1::2], strict=True))


def _anything_but(arg: Any, value: Any) -> bool:
    if isinstance(arg, Mapping):
        if len(arg) != 1:
            raise PatternError("anything-but takes one matcher")
        ((op, inner),) = arg.items()
        if op not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
            raise PatternError(f"anything-but does not take {op!r}")
        if not isinstance(value, str):
            return False
        inners = inner if isinstance(inner, list) else [inner]
        return not any(_string_op(op, i, value) for i in inners)
    excluded = arg if isinstance(arg, list) else [arg]
    return value is not None and not any(_same(x, value) for x in excluded)
