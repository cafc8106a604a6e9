"""What `vaultmail upload` says on stderr, and when: against the emulator, as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

QUARTERLY = Path(__file__).parent / "fixtures" / "quarterly.eml"
VAULTMAIL = str(Path(sys.executable).with_name("vaultmail"))


@pytest.fixture
def run(emulator: Any, aws_env: Any) -> Any:
    def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "PRIMARY_DOMAIN": "acme.com,example.org",
            "API_ENDPOINT_URL": emulator.url,
            "API_KEY": "test-key",
            "API_MAX_ATTEMPTS": "2",
            **env,
        }
        return subprocess.run([VAULTMAIL, *args], capture_output=True, text=True, env=full_env, timeout=120)

    return _run


def test_summary_only_after_the_mail_is_stored(run: Any, emulator: Any) -> None:
    ok = run("upload", "-i", str(QUARTERLY))
    assert ok.returncode == 0, ok.stderr
    lines = ok.stderr.splitlines()
    assert lines[0] == f"vaultmail: uploading {QUARTERLY} ({QUARTERLY.stat().st_size} bytes) ..."
    assert lines[-1].startswith(f"vaultmail: {QUARTERLY}: {QUARTERLY.stat().st_size} bytes to ")
    assert "amit@acme.com" in lines[-1]

    emulator.add_faults([{"target": "uploads", "status": 503, "times": 10}])
    failed = run("upload", "-i", str(QUARTERLY))
    assert failed.returncode == 5
    assert "uploading" in failed.stderr and "bytes to" not in failed.stderr


def test_verbose_logs_each_step_and_no_secret(run: Any) -> None:
    proc = run("-v", "upload", "-i", str(QUARTERLY))
    assert proc.returncode == 0, proc.stderr
    steps = [line for line in proc.stderr.splitlines() if line.startswith("vaultmail: INFO: ")]
    assert [s.split(":")[2].strip().split(" ")[0] for s in steps] == ["headers", "slot", "stored"]
    assert f"stored: {QUARTERLY.stat().st_size} bytes sent (1 slot request(s), 1 send(s))" in steps[-1]
    assert " PUT to " in steps[1] or " POST to " in steps[1]
    assert "test-key" not in proc.stderr and "Signature" not in proc.stderr and "?" not in steps[1]


def test_quiet_says_nothing_on_stderr(run: Any) -> None:
    proc = run("upload", "-q", "-i", str(QUARTERLY))
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("uploaded ")
