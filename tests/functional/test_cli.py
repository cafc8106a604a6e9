"""The `vaultmail` command against the Active Store emulator and moto over HTTP.

The SDK's exit-code matrix (0, 3, 4, 5, 6), the retry paths and the 50 MB guard, run as a
user runs them: a subprocess with the environment the SDK documents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
QUARTERLY = FIXTURES / "quarterly.eml"
VAULTMAIL = str(Path(sys.executable).with_name("vaultmail"))


@pytest.fixture
def run(emulator: Any, aws_env: Any) -> Any:
    def _run(*args: str, stdin: bytes | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "PRIMARY_DOMAIN": "acme.com,example.org",
            "API_ENDPOINT_URL": emulator.url,
            "API_KEY": "test-key",
            "API_MAX_ATTEMPTS": "3",
            **env,
        }
        return subprocess.run(
            [VAULTMAIL, *args],
            input=stdin.decode() if stdin else None,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=120,
        )

    return _run


def only_record(emulator: Any) -> dict[str, Any]:
    records = emulator.records()
    assert len(records) == 1, records
    rec = records[0]
    return rec if isinstance(rec, dict) else rec.to_json()


def test_upload_file_exit_0_lands_in_each_vault(run: Any, emulator: Any) -> None:
    proc = run("upload", "-i", str(QUARTERLY))
    assert proc.returncode == 0, proc.stderr
    rec = only_record(emulator)
    assert sorted(rec["vaults"]) == ["amit@acme.com", "ops@acme.com", "team@example.org"]
    assert rec["size"] == QUARTERLY.stat().st_size
    assert rec["stores"] == 1
    assert "test-key" not in proc.stdout + proc.stderr


def test_sdk_style_flags_without_command_and_stdin(run: Any, emulator: Any) -> None:
    proc = run("-i", "-", stdin=QUARTERLY.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert only_record(emulator)["size"] == QUARTERLY.stat().st_size


def test_m_text_and_r_s(run: Any, emulator: Any) -> None:
    text = "From: a@other.net\nTo: b@other.net\nSubject: via -m\n\nhello\n"
    proc = run("upload", "-m", text, "-r", "legal@acme.com,hr@acme.com", "-s", "boss@acme.com")
    assert proc.returncode == 0, proc.stderr
    rec = only_record(emulator)
    assert sorted(rec["vaults"]) == ["boss@acme.com", "hr@acme.com", "legal@acme.com"]
    assert rec["sender"] == "boss@acme.com"


def test_i_wins_over_m(run: Any, emulator: Any) -> None:
    proc = run("upload", "-i", str(QUARTERLY), "-m", "ignored")
    assert proc.returncode == 0 and "-m is ignored" in proc.stderr


def test_repeated_r_adds_vaults_and_repeated_s_is_refused(run: Any, emulator: Any) -> None:
    text = "From: a@other.net\nTo: b@other.net\nSubject: repeated flags\n\nhello\n"
    proc = run("upload", "-m", text, "-r", "ops@acme.com", "-r", "hr@acme.com, legal@acme.com")
    assert proc.returncode == 0, proc.stderr
    assert sorted(only_record(emulator)["vaults"]) == ["hr@acme.com", "legal@acme.com", "ops@acme.com"]
    proc = run("upload", "-m", text, "-s", "a@acme.com", "-s", "b@acme.com")
    assert proc.returncode == 4 and "-s takes one address" in proc.stderr
    assert len(emulator.records()) == 1


def test_pipe_path_and_verbose_before_sdk_flags(run: Any, emulator: Any) -> None:
    """``-i /dev/stdin`` from a pipe (as ``-i <(cmd)``) is spooled; ``-v`` may come first."""
    proc = run("-v", "-i", "/dev/stdin", stdin=QUARTERLY.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert only_record(emulator)["size"] == QUARTERLY.stat().st_size
    assert "vaultmail: /dev/stdin: " in proc.stderr  # the path given, not the spooled copy's


def test_stdin_is_named_stdin(run: Any, emulator: Any) -> None:
    proc = run("upload", "-i", "-", stdin=QUARTERLY.read_bytes())
    assert proc.returncode == 0, proc.stderr
    assert "vaultmail: <stdin>: " in proc.stderr and "/tmp/" not in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("upload",),
        ("upload", "--bogus"),
        ("upload", "-i", "/nonexistent/mail.eml"),
        ("upload", "-i"),
        ("upload", "-i", "", "-m", "From: a@acme.com\n\nhi\n"),  # -i given: -m is ignored
        ("upload", "-i", "/tmp"),
        ("frobnicate",),
    ],
)
def test_invalid_arguments_exit_3(run: Any, emulator: Any, args: tuple[str, ...]) -> None:
    proc = run(*args)
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    assert emulator.records() == []


def test_invalid_recipient_exit_4(run: Any) -> None:
    proc = run("upload", "-i", str(QUARTERLY), "-r", "someone@elsewhere.net")
    assert proc.returncode == 4 and "someone@elsewhere.net" in proc.stderr


def test_api_422_invalid_recipient_exit_4(run: Any, emulator: Any) -> None:
    emulator.add_faults([{"target": "uploads", "status": 422, "code": "InvalidRecipient"}])
    assert run("upload", "-i", str(QUARTERLY)).returncode == 4


def test_no_primary_domain_recipient_exit_6(run: Any, emulator: Any) -> None:
    proc = run("upload", "-i", str(FIXTURES / "stranger.eml"))
    assert proc.returncode == 6 and "PRIMARY_DOMAIN" in proc.stderr
    assert emulator.records() == []


def test_wrong_key_exit_5(run: Any) -> None:
    proc = run("upload", "-i", str(QUARTERLY), API_KEY="wrong")
    assert proc.returncode == 5 and "refused" in proc.stderr
    assert "wrong" not in proc.stderr.replace("went wrong", "")


def test_persistent_5xx_exit_5_after_bounded_attempts(run: Any, emulator: Any) -> None:
    emulator.add_faults([{"target": "uploads", "status": 503, "times": 10}])
    proc = run("upload", "-i", str(QUARTERLY))
    assert proc.returncode == 5 and "after 3 attempts" in proc.stderr
    assert emulator.hits["uploads"] == 3


@pytest.mark.parametrize(
    "fault",
    [
        {"target": "uploads", "status": 429, "retryAfter": 1},
        {"target": "uploads", "status": 503, "times": 2},
        {"target": "uploads", "action": "reset"},
        {"target": "slot", "status": 500},
        {"target": "slot", "action": "reset"},
    ],
)
def test_transient_faults_are_retried_then_succeed(run: Any, emulator: Any, fault: dict[str, Any]) -> None:
    emulator.add_faults([fault])
    proc = run("upload", "-i", str(QUARTERLY))
    assert proc.returncode == 0, proc.stderr
    assert only_record(emulator)["stores"] == 1


def test_put_slots_work_too(emulator_put: Any, aws_env: Any) -> None:
    env = {
        **os.environ,
        "PRIMARY_DOMAIN": "acme.com",
        "API_ENDPOINT_URL": emulator_put.url,
        "API_KEY": "test-key",
    }
    proc = subprocess.run(
        [VAULTMAIL, "upload", "-i", str(QUARTERLY)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr


def test_over_50_mb_exit_5_before_any_request(run: Any, emulator: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    with big.open("wb") as fh:
        fh.write(QUARTERLY.read_bytes())
        fh.truncate(52_428_801)  # sparse: no 50 MB written to disk
    proc = run("upload", "-i", str(big))
    assert proc.returncode == 5 and "50 MB" in proc.stderr
    assert emulator.hits.get("uploads", 0) == 0


def test_inspect_json(run: Any) -> None:
    proc = run("inspect", "--json", str(QUARTERLY), str(FIXTURES / "stranger.eml"))
    assert proc.returncode == 6
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["from"] == ["Amit@acme.com"]
    assert first["to"] == ["ops@acme.com", "partner@elsewhere.net"]
    assert first["cc"] == ["team@example.org"]
    assert first["subject"] == "Quarterly numbers"
    assert first["messageId"] == "<q3@acme.com>"
    assert first["vaults"] == ["amit@acme.com", "ops@acme.com", "team@example.org"]
    assert first["headerBytes"] == QUARTERLY.read_bytes().index(b"\r\n\r\n") + 2
    assert second["error"]["code"] == 6


def test_a_wrong_endpoint_is_a_failed_upload_exit_5(run: Any, emulator: Any) -> None:
    """design.md: a failed step 1 exits 5, whatever the cause (here 404: no API at that URL)."""
    proc = run("upload", "-i", str(QUARTERLY), API_ENDPOINT_URL=emulator.url + "/not-the-api")
    assert proc.returncode == 5, proc.stderr
    assert "no upload API at API_ENDPOINT_URL" in proc.stderr
