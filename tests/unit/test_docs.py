"""The documentation keeps its promises: the README's shape, the alarms' runbook anchors, the
links between the pages, and bench/README.md's figures equal to bench/results (bench/report.py).

Anchors follow GitHub's rule for headings (lower-case; every character that is not a letter,
a digit, a space, '-' or '_' dropped; spaces to '-'; a repeated heading gets '-1', '-2'), as
github/cmark-gfm's and html-pipeline's TableOfContentsFilter compute them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RUNBOOK = ROOT / "docs" / "runbook.md"
ALARM = "AWS::CloudWatch::Alarm"
# The pages of the README's audience split whose links are checked here (scanner.md and
# design.md are checked by their own owners' tests, if any).
LINKED_PAGES = [
    "README.md",
    "docs/runbook.md",
    "docs/delivery.md",
    "docs/settings.md",
    "docs/migration.md",
    "docs/cli.md",
    "bench/README.md",
]


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading's text (inline code and links reduced to their text)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(markdown: str) -> list[str]:
    """Heading texts outside fenced code blocks."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} +(.*?) *#* *$", line)):
            found.append(m.group(1))
    return found


def anchors(markdown: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(markdown):
        base = anchor(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_anchor_follows_github() -> None:
    assert anchor("Dead-letter queues") == "dead-letter-queues"
    assert anchor("`vaultmail upload`: the SDK's command line") == "vaultmail-upload-the-sdks-command-line"
    assert anchor("Which size limit?") == "which-size-limit"
    assert anchor("Settings: the environment variables") == "settings-the-environment-variables"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


# ---- the README ------------------------------------------------------------------------------------


def test_readme_opens_with_the_two_commands_and_stays_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["# vaultmail", "", "```sh"]
    assert lines[3].startswith("make demo   # ") and lines[4].startswith("make test   # ")
    assert len(lines) < 250


def test_readme_links_the_pages_moved_out_of_it() -> None:
    readme = README.read_text(encoding="utf-8")
    for page in ("docs/runbook.md", "docs/delivery.md", "docs/settings.md", "docs/migration.md",
                 "bench/README.md"):
        assert f"]({page}" in readme, page


# ---- the alarms and the runbook ------------------------------------------------------------------


def _expand(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, resource) of every resource, ``Fn::ForEach`` loops of names expanded."""
    for key, value in resources.items():
        if key.startswith("Fn::ForEach::"):
            name, collection, body = value
            for item in collection:
                swap = {f"${{{name}}}": item, f"&{{{name}}}": item}

                def sub(node: Any, swap: dict[str, str] = swap) -> Any:
                    if isinstance(node, str):
                        for old, new in swap.items():
                            node = node.replace(old, new)
                        return node
                    if isinstance(node, dict):
                        return {sub(k): sub(v) for k, v in node.items()}
                    return [sub(v) for v in node] if isinstance(node, list) else node

                yield from _expand(sub(body))
        elif isinstance(value, dict):
            yield key, value


def alarms() -> dict[str, dict[str, Any]]:
    template = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    found = {name: res for name, res in _expand(template["Resources"]) if res.get("Type") == ALARM}
    assert len(found) >= 9  # the template's alarms, at the time of writing
    return found


def test_every_alarm_description_names_a_runbook_anchor_that_exists() -> None:
    runbook = anchors(RUNBOOK.read_text(encoding="utf-8"))
    for name, alarm in alarms().items():
        description = json.dumps(alarm["Properties"]["AlarmDescription"])  # a string, or an Fn::Sub
        named = re.findall(r"Runbook: docs/runbook\.md#([a-z0-9_-]+)", description)
        assert len(named) == 1, (name, description)
        assert named[0] in runbook, (name, named[0], sorted(runbook))
        assert len(alarm["Properties"]["AlarmDescription"]) <= 1024  # CloudWatch's limit


def test_every_alarm_is_in_the_runbook_table() -> None:
    rows = re.findall(r"^\| `([A-Za-z0-9]+Alarm)` \|", RUNBOOK.read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(rows) == sorted(alarms())


# ---- links between the pages ---------------------------------------------------------------------


def _links(page: Path) -> Iterator[str]:
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield from re.findall(r"\]\(([^)\s]+)\)", line)


@pytest.mark.parametrize("name", LINKED_PAGES)
def test_relative_links_and_anchors_resolve(name: str) -> None:
    page = ROOT / name
    for link in _links(page):
        if re.match(r"[a-z]+:", link):
            continue  # https:, mailto:
        path, _, fragment = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), (name, link)
        if fragment and target.suffix == ".md":
            assert fragment in anchors(target.read_text(encoding="utf-8")), (name, link)


# ---- bench/README.md -----------------------------------------------------------------------------


def _report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_readme_is_what_the_results_say() -> None:
    report = _report()
    assert report.main(["--check"]) == 0, "bench/README.md is stale: run python bench/report.py"
    readme = (ROOT / "bench" / "README.md").read_text()
    for path in (ROOT / "bench" / "results").glob("*.json"):
        assert f"(`{path.name}`)" in readme, path.name  # every results file has its section


def test_a_changed_figure_changes_bench_readme(tmp_path: Path) -> None:
    report = _report()
    shutil.copytree(ROOT / "bench" / "results", tmp_path, dirs_exist_ok=True)
    outage = json.loads((tmp_path / "outage.json").read_text())
    outage["recovery"]["archive_rate_mails_per_s"] = 4321.5
    (tmp_path / "outage.json").write_text(json.dumps(outage))
    (tmp_path / "new.json").write_text(json.dumps({"summary": [{"goal": "g", "met": False, "figure": "f"}]}))
    changed = report.render(tmp_path)
    assert changed != report.render()
    assert "4321.5 mails/s" in changed
    assert "## new (`new.json`)" in changed and "- **NOT MET**: g. Figure: f" in changed
    readme = (ROOT / "bench" / "README.md").read_text()
    assert report.splice(readme, changed) != readme  # what --check compares
