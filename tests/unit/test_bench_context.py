"""bench/_context.py: every results file says when, where and whether its goals were met."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import _context
import run as bench_run


def test_results_file_has_context_first_and_summary_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_context, "RESULTS", tmp_path)
    monkeypatch.setattr(bench_run, "RESULTS", tmp_path)
    started = _context.context()
    goals = [
        _context.summary("peak RSS < 16 MiB", True, "2.0 MiB"),
        _context.summary("ratio <= 1.3x", False, "1.4x"),
    ]
    path = _context.write("demo", {"figure": 2.0}, goals, started)
    document = json.loads(path.read_text())
    assert list(document) == ["context", "figure", "summary"]
    ctx = document["context"]
    assert {"date", "commit", "cpu_count", "load_average_1_5_15_min", "load_average_at_end"} <= set(ctx)
    assert ctx["cpu_count"] >= 1 and ctx["date"].endswith("+00:00")
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == ["demo: met: peak RSS < 16 MiB (2.0 MiB)", "demo: NOT MET: ratio <= 1.3x (1.4x)"]

    (tmp_path / "old.json").write_text(json.dumps({"figure": 1}))  # a bench without the helper
    assert bench_run.summaries(0) == [
        "demo: met: peak RSS < 16 MiB (2.0 MiB)",
        "demo: NOT MET: ratio <= 1.3x (1.4x)",
        "old: no goal summary in old.json",
    ]
