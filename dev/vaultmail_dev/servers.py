"""Local servers for development and tests: moto (in-process) and the upload API emulator.

* :func:`start_moto` runs moto's S3/DynamoDB/... server in a thread of this process;
* :func:`aws_env` is the environment that points boto3 at it;
* :func:`spawn_moto` and :func:`spawn_emulator` run them as separate processes (benchmarks,
  the end-to-end stack), each answering an object with ``.url`` and ``.stop()``.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

import requests

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

REGION = "us-east-1"
DUMMY_CREDENTIAL = "testing"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def aws_env(url: str) -> dict[str, str]:
    """The environment for boto3 clients pointed at an AWS emulator at ``url``."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
        "AWS_SESSION_TOKEN": DUMMY_CREDENTIAL,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


class _Stoppable:
    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def reset_moto(url: str, timeout: float = 10.0) -> None:
    """Forget every resource of the moto server at ``url``."""
    requests.post(f"{url.rstrip('/')}/moto-api/reset", timeout=timeout).raise_for_status()


@dataclass
class MotoHandle(_Stoppable):
    """A moto server running in a thread of this process."""

    server: ThreadedMotoServer
    host: str
    port: int
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        reset_moto(self.url)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.server.stop()


def start_moto(port: int | None = None, *, host: str = "127.0.0.1") -> MotoHandle:
    """Start moto in-process on ``host``; without ``port``, on a port the kernel picks.

    Letting the kernel pick (port 0) avoids the race between choosing a free port and
    binding it, in which moto's ``start()`` would wait forever.
    """
    from moto.server import ThreadedMotoServer

    werkzeug_log = logging.getLogger("werkzeug")  # moto's request log: quiet unless asked
    if werkzeug_log.level == logging.NOTSET:
        werkzeug_log.setLevel(logging.WARNING)
    if port:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))  # fail here (OSError) rather than hang in start()
    server = ThreadedMotoServer(ip_address=host, port=port or 0, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    url_host = "127.0.0.1" if bound_host in ("0.0.0.0", "") else bound_host
    return MotoHandle(server=server, host=url_host, port=bound_port)


# -- separate processes -----------------------------------------------------------------------


@dataclass
class ServerProcess(_Stoppable):
    """A server in a child process."""

    process: subprocess.Popen[str]
    url: str

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _first_line(stream: IO[str], process: subprocess.Popen[str], timeout: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            raise RuntimeError(f"no URL from {process.args!r} within {timeout}s")
    line = stream.readline().strip()
    if not line:
        process.wait(timeout)
        raise RuntimeError(f"{process.args!r} exited ({process.returncode}) without a URL")
    return line


def _wait_http(url: str, process: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited ({process.returncode})")
        try:
            requests.get(url, timeout=1.0)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"{url} did not answer within {timeout}s") from None
            time.sleep(0.1)


def spawn_moto(
    port: int | None = None, *, host: str = "127.0.0.1", startup_timeout: float = 30.0
) -> ServerProcess:
    """Run ``python -m moto.server`` in a child process and wait until it answers."""
    port = port or free_port(host)
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{url_host}:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    _wait_http(f"{url}/moto-api/", process, startup_timeout)
    return ServerProcess(process=process, url=url)


def spawn_emulator(
    moto_url: str,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    domains: Sequence[str] = ("acme.com",),
    api_key: str = "test-key",
    slot_method: str = "POST",
    extra_args: Sequence[str] = (),
    startup_timeout: float = 30.0,
) -> ServerProcess:
    """Run ``python -m vaultmail_dev.emulator`` in a child process; its URL is its first line."""
    command = [
        sys.executable,
        "-m",
        "vaultmail_dev.emulator",
        "--moto-url",
        moto_url,
        "--host",
        host,
        "--port",
        str(port),
        "--domains",
        ",".join(domains),
        "--api-key",
        api_key,
        "--slot-method",
        slot_method,
        *extra_args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    url = _first_line(process.stdout, process, startup_timeout)
    return ServerProcess(process=process, url=url)
