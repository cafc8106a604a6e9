"""Start moto and the Active Store emulator as separate processes, so that what a benchmark
measures in its own process is the client alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from vaultmail_dev.servers import free_port

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: server did not start")


@contextmanager
def servers(slot_method: str = "PUT") -> Iterator[tuple[str, str]]:
    """(moto url, emulator url), each in its own process."""
    env = {**os.environ, **AWS_ENV}
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    moto_url = f"http://127.0.0.1:{port}"
    emu = None
    try:
        _wait(moto_url + "/moto-api/", moto)
        emu = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vaultmail_dev.emulator",
                "--moto-url",
                moto_url,
                "--domains",
                "acme.com",
                "--api-key",
                "bench-key",
                "--slot-method",
                slot_method,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert emu.stdout is not None
        emu_url = emu.stdout.readline().strip()
        yield moto_url, emu_url
    finally:
        for proc in (emu, moto):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
