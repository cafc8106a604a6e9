"""``sam build`` for tests: ``build(tmpdir=None) -> Path``, the directory that ``sam build`` filled.

One implementation serves the tests, ``make build``, the e2e tier and the demo:
``vaultmail_dev.sambuild``. It finds python3.13 (PATH, then pyenv), runs
``sam build --template template.yaml --build-dir DIR`` with that interpreter first on PATH, and
writes a fingerprint (sha256 of template.yaml, layers/ and functions/) into DIR; a later call
with the same sources returns DIR at once. So a test session builds at most once, and a re-run
with unchanged sources builds nothing.

    from tests.sam_build import build

    built = build()                     # .aws-sam/local-build, shared with tests/e2e
    layer = built / "CoreLayer" / "python"
    handler_dir = built / "S3UploaderFunction"

``build(tmp_path)`` builds into a directory of your own instead (SAM's cache in .aws-sam/cache
still makes it quick). Without python3.13 the calling test is SKIPPED, loudly, with the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vaultmail_dev import sambuild

ROOT = sambuild.ROOT
DEFAULT_DIR = sambuild.BUILD_DIR
NO_PYTHON313 = (
    "NO python3.13 on PATH or in pyenv (try PYENV_VERSION=3.11.7:3.13.0): `sam build` for the "
    "python3.13 runtime was NOT run, so the build output was NOT tested"
)


def python313() -> str | None:
    """The python3.13 that ``sam build`` will use, or None."""
    return sambuild.find_python313()


def build(tmpdir: Path | str | None = None, *, force: bool = False) -> Path:
    """The ``sam build`` output directory (cached by content); skips the test without python3.13."""
    python = python313()
    if python is None:
        print(f"\nWARNING: {NO_PYTHON313}", file=sys.stderr)
        pytest.skip(NO_PYTHON313)
    target = DEFAULT_DIR if tmpdir is None else Path(tmpdir)
    return sambuild.build(python, build_dir=target, force=force)


__all__ = ["DEFAULT_DIR", "NO_PYTHON313", "ROOT", "build", "python313"]
