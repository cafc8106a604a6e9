"""Fixtures shared by every test: moto and the Active Store emulator, started on demand.

Nothing here opens a socket unless a test asks for ``moto_server``, ``aws_env``,
``emulator``, ``emulator_put`` or ``emulator_factory``; tests under tests/unit may not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from vaultmail_dev import servers
from vaultmail_dev.emulator import Emulator

EMULATOR_DOMAINS = ("acme.com", "example.org")
EMULATOR_API_KEY = "test-key"
UNIT_TESTS = Path(__file__).resolve().parent / "unit"


SERVER_FIXTURES = {"moto_server", "aws_env", "emulator", "emulator_put", "emulator_factory"}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A unit test that asks for a server fails before any fixture starts one."""
    if UNIT_TESTS in Path(str(item.path)).resolve().parents and SERVER_FIXTURES & set(
        getattr(item, "fixturenames", ())
    ):
        pytest.fail("unit tests must not start servers: move this test to tests/functional")


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach a real AWS account: dummy credentials, no profile, no endpoint."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    for name, value in servers.aws_env("unused").items():
        if name != "AWS_ENDPOINT_URL":
            monkeypatch.setenv(name, value)


def _no_servers_in_unit_tests(request: pytest.FixtureRequest) -> None:
    if UNIT_TESTS in Path(str(request.node.path)).resolve().parents:
        pytest.fail("unit tests must not start servers: move this test to tests/functional")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[servers.MotoHandle]:
    """moto in a thread of the test process, for the whole session."""
    with servers.start_moto() as handle:
        yield handle


@pytest.fixture
def aws_env(
    request: pytest.FixtureRequest, moto_server: servers.MotoHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """boto3 pointed at the session's moto; moto is reset after the test."""
    _no_servers_in_unit_tests(request)
    env = servers.aws_env(moto_server.url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a session made before caches the old env
    yield env
    moto_server.reset()


EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def emulator_factory(
    request: pytest.FixtureRequest, moto_server: servers.MotoHandle, aws_env: dict[str, str]
) -> Iterator[EmulatorFactory]:
    """Start emulators on the session's moto with other settings; all stopped after the test.

    Defaults: domains acme.com and example.org, API key "test-key", POST slots.
    """
    _no_servers_in_unit_tests(request)
    started: list[Emulator] = []

    def make(**options: Any) -> Emulator:
        settings: dict[str, Any] = {"domains": EMULATOR_DOMAINS, "api_key": EMULATOR_API_KEY,
                                    "slot_method": "POST", **options}
        emulator = Emulator(moto_server.url, **settings).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> Emulator:
    """The upload API emulator handing out presigned-POST slots."""
    return emulator_factory(slot_method="POST")


@pytest.fixture
def emulator_put(emulator_factory: EmulatorFactory) -> Emulator:
    """The upload API emulator handing out presigned-PUT slots."""
    return emulator_factory(slot_method="PUT")
