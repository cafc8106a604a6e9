"""Every scanner suppression says why (the scanners themselves run in `make scan`, part of `make test`).

checkov's skips carry a ``comment``; cfn-lint's ``ignore_checks`` have no field for one, so
each entry's line carries a YAML comment; bandit's ``# nosec`` has its reason on the line
above (bandit reads the words after ``nosec`` as test ids) or in pyproject's [tool.bandit].
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()


def _template() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node, deep=True)}
        return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]

    Loader.add_multi_constructor("!", tag)
    return yaml.load(TEMPLATE_TEXT, Loader=Loader)


RESOURCES = _template()["Resources"]


def test_every_checkov_skip_has_its_reason() -> None:
    skips = [
        (name, skip)
        for name, res in RESOURCES.items()
        for skip in ((res.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]
    assert skips, "no checkov suppression found: the parsing above is wrong"
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "").split()) >= 8, f"{name}: {skip['id']} needs its reason"


def test_every_cfn_lint_ignore_has_its_reason_on_its_line() -> None:
    ignored = {
        name: ((res.get("Metadata") or {}).get("cfn-lint") or {}).get("config", {}).get("ignore_checks", [])
        for name, res in RESOURCES.items()
    }
    entries = [(name, rule) for name, rules in ignored.items() for rule in rules]
    assert entries
    lines = [line.strip() for line in TEMPLATE_TEXT.splitlines()]
    for name, rule in entries:
        explained = [ln for ln in lines if re.fullmatch(rf"- {rule} # .{{20,}}", ln)]
        assert explained, f"{name}: ignore_checks {rule} without '# reason' on its line"


def test_every_policy_document_has_a_version() -> None:
    def documents(node: Any) -> Any:
        if isinstance(node, dict):
            if "Statement" in node:
                yield node
            for value in node.values():
                yield from documents(value)
        elif isinstance(node, list):
            for value in node:
                yield from documents(value)

    found = list(documents(RESOURCES))
    assert len(found) > 5
    assert all(doc.get("Version") == "2012-10-17" for doc in found), [
        doc for doc in found if doc.get("Version") != "2012-10-17"
    ][:1]


def test_every_nosec_has_its_reason_and_bandit_skips_are_explained() -> None:
    package = ROOT / "layers" / "core" / "vaultmail"
    for path in package.rglob("*.py"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "# nosec" in line:
                assert re.search(r"# nosec B\d{3}$", line), f"{path}:{i + 1}: name the test id only"
                above = lines[i - 1].strip() if i else ""
                assert above.startswith("#") and len(above.split()) >= 6, f"{path}:{i + 1}: reason above"
    pyproject = (ROOT / "pyproject.toml").read_text()
    skips = tomllib.loads(pyproject)["tool"]["bandit"].get("skips", [])
    block = pyproject.split("[tool.bandit]", 1)[1]
    for test_id in skips:
        assert re.search(rf"^# {test_id} \(.+\): .+", block, re.M), f"[tool.bandit] skip {test_id}: reason?"
