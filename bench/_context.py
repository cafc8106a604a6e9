"""What every results file says besides its figures: when, on what, and whether each goal was met.

    from _context import context, summary, write
    started = context()                       # before measuring: date, commit, CPUs, load
    ...
    goals = [summary("peak RSS < 16 MiB", met=peak < 16, figure=f"{peak:.1f} MiB")]
    write("upload", result, goals, started)   # bench/results/upload.json, summary lines last

``write`` puts ``context`` first and ``summary`` last in the JSON, adds the load average at
the end of the run (a busy machine explains a slow figure), prints the file, then one line per
goal. ``make bench`` (bench/run.py) repeats those lines for every results file it wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not on every platform
        return None


def context() -> dict[str, Any]:
    """Date (UTC), commit (``+dirty`` with uncommitted changes), CPU count, load average, Python."""
    commit = _git("rev-parse", "HEAD")
    if commit and _git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15_min": _load(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def summary(goal: str, met: bool, figure: str) -> dict[str, Any]:
    """One goal's outcome: what was aimed at, whether it was met, and the measured figure."""
    return {"goal": goal, "met": bool(met), "figure": figure}


def summary_line(name: str, item: dict[str, Any]) -> str:
    return f"{name}: {'met' if item['met'] else 'NOT MET'}: {item['goal']} ({item['figure']})"


def write(name: str, result: dict[str, Any], goals: list[dict[str, Any]], started: dict[str, Any]) -> Path:
    """bench/results/<name>.json: context, the figures, then the goals; printed as well."""
    document = {
        "context": {**started, "load_average_at_end": _load()},
        **result,
        "summary": goals,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    for item in goals:
        print(summary_line(name, item))
    sys.stdout.flush()
    return path
