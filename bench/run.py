"""``make bench``: run every benchmark; each prints and writes bench/results/<name>.json.

Each results file starts with its context (date, commit, CPU count, load average; see
bench/_context.py) and ends with a summary line per goal. This runner prints the context
once first, and at the end the summary lines of every results file this run wrote.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _context import RESULTS, context, summary_line  # noqa: E402

BENCHES = [
    "bench_upload.py",
    "bench_handlers.py",
    "bench_scanner.py",
    "bench_headers.py",
    "bench_outage.py",
    "bench_download.py",
]


def summaries(since: float) -> list[str]:
    """The goal lines of the results files written since ``since`` (a file without any says so)."""
    lines = []
    for path in sorted(RESULTS.glob("*.json")):
        if path.stat().st_mtime < since:
            continue
        try:
            goals = json.loads(path.read_text()).get("summary")
        except ValueError:
            goals = None
        if not goals:
            lines.append(f"{path.stem}: no goal summary in {path.name}")
            continue
        lines.extend(summary_line(path.stem, item) for item in goals)
    return lines


def main() -> int:
    print("context: " + json.dumps(context()), flush=True)
    started = time.time() - 1  # file times may be coarser than a second
    failed = []
    for name in BENCHES:
        path = HERE / name
        if not path.exists():
            continue
        print(f"=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(path)]).returncode != 0:
            failed.append(name)
    print("=== summary ===")
    lines = summaries(started)
    for line in lines:
        print(line)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
