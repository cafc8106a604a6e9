"""The header reader on worst-case header blocks: time to read and parse each, up to the 1 MiB cap.

Run by ``make bench`` (not by pytest: no test asserts a time). Each input is a header block as
large as the cap allows (HEADER_CAP, 1 MiB) of one hostile or extreme shape: a flood of
Received lines, of short lines, of lines that are not headers, of address fields, one address
list of every form (bare, named, quoted, commented, folded), nesting thousands deep (groups,
comments, angle brackets), unclosed quotes, a long encoded-word Subject; plus the issue's 2 KB
poison mail and an ordinary mail for scale. Each is read ``ROUNDS`` times with
:func:`vaultmail.headers.read_headers` from bytes (the block cut and the parse; no I/O); the
median and the slowest round are kept. The goal (issue 10) is under 50 ms for any header
block up to the cap. Results, with the machine's context (date, commit, CPU count, load
average), go to bench/results/headers.json.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vaultmail.errors import NotAMail
from vaultmail.headers import HEADER_CAP, read_headers

sys.path.insert(0, str(Path(__file__).parent))
from _context import summary

ROUNDS = 5
GOAL_SECONDS = 0.050
RESULTS = Path(__file__).parent / "results" / "headers.json"
FROM = b"From: Sender <sender@acme.com>\r\n"


def fill(head: bytes, unit: Callable[[int], bytes], tail: bytes = b"\r\n") -> bytes:
    """``head`` then ``unit(i)`` for i = 0, 1, ... while the block stays within the cap."""
    parts = [head]
    size = len(head) + len(tail)
    i = 0
    while True:
        piece = unit(i)
        if size + len(piece) > HEADER_CAP:
            break
        parts.append(piece)
        size += len(piece)
        i += 1
    return b"".join(parts) + tail


def cases() -> dict[str, bytes]:
    subject = b"Subject: " + b"=?utf-8?q?caf=C3=A9_cr=C3=A8me?= " * 30
    return {
        "ordinary mail (for scale)": FROM
        + b"To: Amit <amit@acme.com>, ops@acme.com\r\nCc: \"Doe, Jane\" <jane@example.org>\r\n"
        + subject + b"\r\nDate: Tue, 05 Mar 2024 10:00:00 +0000\r\nMessage-ID: <q1@acme.com>\r\n",
        "issue 10 poison: To: g:g:g: (2 KB)": b"From: a@x.test\r\nTo: " + b"g:" * 1000 + b"\r\n",
        "Received flood": fill(
            FROM, lambda i: b"Received: from relay%d.example.net by mx.acme.com; Tue, 5 Mar 2024\r\n" % i, b""
        ),
        "short lines (X:)": fill(FROM, lambda i: b"X:\r\n", b""),
        "lines that are not headers": fill(
            FROM + b"To: a@acme.com\r\n", lambda i: b"junk line %d\r\n" % i, b""
        ),
        "Cc fields, one address each": fill(FROM, lambda i: b"Cc: c%d@acme.com\r\n" % i, b""),
        "one To: of bare addresses": fill(FROM + b"To: u@acme.com", lambda i: b", u%d@acme.com" % i),
        "one To: of named addresses": fill(
            FROM + b"To: U <u@acme.com>", lambda i: b", User %d <u%d@acme.com>" % (i, i)
        ),
        "one To: of quoted names": fill(
            FROM + b"To: u@acme.com", lambda i: b', "Doe, J. %d" <u%d@acme.com>' % (i, i)
        ),
        "one To: of commented addresses": fill(
            FROM + b"To: u@acme.com", lambda i: b", u%d@acme.com (U %d)" % (i, i)
        ),
        "one To: folded, a line each": fill(FROM + b"To: u@acme.com", lambda i: b",\r\n u%d@acme.com" % i),
        "encoded-word names": fill(
            FROM + b"To: u@acme.com", lambda i: b", =?utf-8?b?SsO2cmc=?= <u%d@acme.com>" % i
        ),
        "groups nested 1 MiB deep": fill(FROM + b"To: ", lambda i: b"g:"),
        "comments nested 1 MiB deep": fill(FROM + b"To: a@acme.com ", lambda i: b"("),
        "angle brackets 1 MiB deep": fill(FROM + b"To: ", lambda i: b"<"),
        "unclosed quote, 1 MiB": fill(FROM + b'To: "', lambda i: b"x, y@acme.com "),
        "one To: of words, no address": fill(FROM + b"To: x", lambda i: b", x"),
        "leading continuation lines": b" x\r\n" * ((HEADER_CAP - 40) // 4) + FROM,
        "one word, 1 MiB, after a quote": fill(FROM + b'To: "x" ', lambda i: b"a"),
        "obs-route of 1 MiB": fill(FROM + b'To: "x" <', lambda i: b"@relay%d.example," % i),
        "Subject of encoded words, 1 MiB": fill(FROM + b"Subject: ", lambda i: b"=?utf-8?q?caf=C3=A9?= "),
        "Message-ID nested comments": fill(FROM + b"To: a@acme.com\r\nMessage-ID: <", lambda i: b"("),
    }


def measure(block: bytes) -> dict[str, Any]:
    seconds = []
    outcome: Any = None
    for _ in range(ROUNDS):
        start = time.perf_counter()
        try:
            headers = read_headers(block)
            outcome = {"addresses": len(headers.addresses()), "skipped": len(headers.skipped)}
        except NotAMail as exc:
            outcome = {"error": exc.reason}
        seconds.append(time.perf_counter() - start)
    return {
        "bytes": len(block),
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
        **outcome,
    }


def commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def main() -> dict[str, Any]:
    load_before = os.getloadavg()
    results = {name: measure(block) for name, block in cases().items()}
    load_after = os.getloadavg()
    capped = {n: r for n, r in results.items() if r["bytes"] <= HEADER_CAP}
    worst_name = max(capped, key=lambda n: capped[n]["median_ms"])
    worst = capped[worst_name]["median_ms"]
    met = worst < GOAL_SECONDS * 1000
    line = (
        f"goal {'met' if met else 'NOT met'}: the slowest header block up to the {HEADER_CAP:,}-byte "
        f"cap took {worst} ms (median of {ROUNDS}; goal < {GOAL_SECONDS * 1000:.0f} ms): {worst_name}"
    )
    goal = summary(
        f"any header block up to the {HEADER_CAP:,}-byte cap read in < {GOAL_SECONDS * 1000:.0f} ms",
        met,
        f"worst {worst} ms (median of {ROUNDS}): {worst_name}",
    )
    return {
        "goal_line": line,
        "summary": [goal],
        "goal_ms": GOAL_SECONDS * 1000,
        "goal_met": met,
        "worst_case": worst_name,
        "worst_median_ms": worst,
        "rounds": ROUNDS,
        "cases": results,
        "context": {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": commit(),
            "cpu_count": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "note": "read_headers(bytes): the block cut and the parse, no I/O; medians of ROUNDS runs",
    }


def show(result: dict[str, Any]) -> None:
    print(f"{'header block':<38} {'bytes':>9} {'median ms':>10} {'max ms':>8}  outcome")
    for name, row in result["cases"].items():
        outcome = row.get("error") or f"{row['addresses']} addresses, {row['skipped']} skipped"
        print(f"{name:<38} {row['bytes']:>9,} {row['median_ms']:>10.2f} {row['max_ms']:>8.2f}  {outcome}")
    ctx = result["context"]
    load = f"{ctx['load_average_before']} -> {ctx['load_average_after']}"
    print(f"{ctx['cpu_count']} CPUs, load average {load}")
    print(result["goal_line"])


if __name__ == "__main__":
    result = main()
    show(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
