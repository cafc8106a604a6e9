"""Every environment installs from a hashed lock, and the locks agree with each other.

``make lock-check`` (part of ``make test``) re-exports uv.lock and compares; these tests pin
what a reviewer reads in the files: every requirement exact and hashed, the layer's versions
the lock's, nothing of the development tools in what the layer ships.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HASHED = [
    "layers/core/requirements.txt",
    "dev/lambda-runtime-requirements.txt",
    ".ci/scan-requirements.txt",
    ".ci/uv-requirements.txt",
]


def _requirements(path: Path) -> list[str]:
    """The requirement entries of ``path``, each with its continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, set[str]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        versions.setdefault(_norm(package["name"]), set()).add(package.get("version", ""))
    return versions


@pytest.mark.parametrize("name", HASHED)
def test_every_requirement_is_exact_and_hashed(name: str) -> None:
    entries = _requirements(ROOT / name)
    assert entries, name
    for entry in entries:
        assert re.match(r"^[A-Za-z0-9_.\-\[\],]+==\S+", entry), entry
        assert "--hash=sha256:" in entry, entry


def test_the_layer_ships_the_locked_versions_and_no_tool() -> None:
    locked = _locked()
    shipped = {}
    for entry in _requirements(ROOT / "layers/core/requirements.txt"):
        name, version = entry.split(" ", 1)[0].split("==")
        shipped[_norm(name)] = version
    for name, version in shipped.items():
        assert version in locked[name], (name, version)
    assert {"aws-lambda-powertools", "requests", "requests-toolbelt"} <= set(shipped)
    # boto3 comes from the Lambda runtime; the development tools never reach the layer
    assert not {"boto3", "botocore", "moto", "aws-sam-cli", "pytest", "tqdm"} & set(shipped)


def test_the_lock_is_the_only_source_of_versions() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "dev" not in project["project"].get("optional-dependencies", {})
    assert set(project["dependency-groups"]) >= {"dev", "layer", "lambda-runtime"}
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    assert lock["package"], "uv.lock has no packages"
    for package in lock["package"]:
        if package.get("source", {}).get("registry"):
            files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
            assert files and all(f.get("hash", "").startswith("sha256:") for f in files), package["name"]
