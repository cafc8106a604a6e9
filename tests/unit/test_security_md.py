"""SECURITY.md names the test behind each claim: every ``file::test`` it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def named_tests(text: str) -> list[tuple[str, str]]:
    """(file, test) pairs: ``tests/x.py::test_a`` and the shorthand ``::test_b`` after it."""
    found: list[tuple[str, str]] = []
    current = ""
    for match in re.finditer(r"(tests/[\w/]+\.py)?::(test_\w+)", text):
        current = match.group(1) or current
        found.append((current, match.group(2)))
    return found


def test_every_test_security_md_names_exists() -> None:
    pairs = named_tests((ROOT / "SECURITY.md").read_text(encoding="utf-8"))
    assert len(pairs) > 30
    missing = []
    for file, name in pairs:
        path = ROOT / file
        tree = (
            ast.parse(path.read_text(encoding="utf-8"))
            if path.exists()
            else ast.Module(body=[], type_ignores=[])
        )
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if name not in names:
            missing.append(f"{file}::{name}")
    assert missing == []


def test_the_shorthand_refers_to_the_last_file_named() -> None:
    assert named_tests("`tests/a.py::test_x`, `::test_y` and `tests/b.py::test_z`") == [
        ("tests/a.py", "test_x"),
        ("tests/a.py", "test_y"),
        ("tests/b.py", "test_z"),
    ]
