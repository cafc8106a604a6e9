"""The built stack (sam build output on Python 3.13) on moto and the Active Store emulator."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vaultmail_dev import sambuild
from vaultmail_dev.stack import LocalStack


@pytest.fixture(scope="session")
def build() -> sambuild.Build:
    if sambuild.find_python313() is None:
        # Loud, not silent: the e2e tier then runs the functions from the source tree.
        print(
            "\nWARNING: python3.13 not found: e2e runs the SOURCE TREE, not the sam build output",
            file=sys.stderr,
        )
    return sambuild.prepare()


@pytest.fixture(scope="module")
def stack(build: sambuild.Build, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir: Path = tmp_path_factory.mktemp("stack")
    with LocalStack(workdir=workdir, build=build, function_env={"API_MAX_ATTEMPTS": "2"}) as running:
        yield running
