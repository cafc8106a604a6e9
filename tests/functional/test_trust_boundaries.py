"""Issue 20 over real sockets: the API key never follows a redirect (a second local server
records every header it gets), the slot never gets the key, and a forged pointer archives
nothing (design.md "Trust boundaries (fixed)"; SECURITY.md)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from vaultmail import runtime
from vaultmail.errors import UploadFailed
from vaultmail_dev.mails import mail
from vaultmail_dev.stack import sns_event

from .lambdas import FakeContext, LambdaWorld, load_handler

VAULTMAIL = str(Path(sys.executable).with_name("vaultmail"))
FORGED = Path(__file__).parents[1] / "unit" / "fixtures" / "forged"
SNS_APP = load_handler("sns_uploader")
KEY = "k-" + uuid.uuid4().hex  # a key no other test uses, to count where it went


class Recorder:
    """A local HTTP server that records every request's headers. As the API it answers step 1
    with a PUT slot on itself and step 2 with 200; as a redirector it answers ``status`` with a
    Location on another server."""

    def __init__(self, redirect_to: str | None = None, status: int = 307) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.requests.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                if redirect_to is not None:
                    self.send_response(status)
                    self.send_header("Location", redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.startswith("/v1/uploads"):
                    body = json.dumps(
                        {
                            "uploadId": "u-1",
                            "upload": {"method": "PUT", "url": f"{recorder.url}/slot/1", "headers": {}},
                        }
                    ).encode()
                    self.send_response(201)
                else:
                    body = b""
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PUT = do_GET = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def keys_seen(self, key: str = KEY) -> int:
        return sum(1 for _, _, headers in self.requests if headers.get("x-api-key") == key)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def other_host() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture(params=[307, 302])
def redirector(request: pytest.FixtureRequest, other_host: Recorder) -> Iterator[Recorder]:
    # "localhost" vs "127.0.0.1": another host name, as requests sees hosts (it strips
    # Authorization across hosts, but not x-api-key)
    server = Recorder(redirect_to=other_host.url.replace("127.0.0.1", "localhost"), status=request.param)
    yield server
    server.close()


def test_cli_upload_does_not_follow_a_redirect_with_the_key(
    redirector: Recorder, other_host: Recorder, tmp_path: Path
) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(mail("redirected"))
    env = {
        "PATH": "/usr/bin:/bin",
        "PRIMARY_DOMAIN": "acme.com",
        "API_ENDPOINT_URL": redirector.url,
        "API_KEY": KEY,
        "API_MAX_ATTEMPTS": "3",
    }
    done = subprocess.run(
        [VAULTMAIL, "upload", "-i", str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 5, done.stderr
    assert "localhost" in done.stderr and "redirect" in done.stderr  # names the Location's host
    assert KEY not in done.stdout + done.stderr
    assert len(redirector.requests) == 1  # not retried either: a redirect is no blip
    assert other_host.requests == [] and other_host.keys_seen() == 0


def test_sns_uploader_does_not_follow_a_redirect_with_the_key(
    lambda_world: LambdaWorld, redirector: Recorder, other_host: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_ENDPOINT_URL", redirector.url)
    runtime.reset()
    key = "test-key"  # the Lambda's key, from lambda_world's secret
    event = sns_event(
        {"MessageId": str(uuid.uuid4()), "TopicArn": lambda_world.topic, "Message": mail("via sns").decode()},
        {},
    )
    with pytest.raises(UploadFailed, match="localhost"):
        SNS_APP.lambda_handler(event, FakeContext())
    assert redirector.keys_seen(key) == 1
    assert other_host.requests == [] and other_host.keys_seen(key) == 0


def test_the_slot_never_gets_the_key(other_host: Recorder, tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(mail("stored"))
    env = {
        "PATH": "/usr/bin:/bin",
        "PRIMARY_DOMAIN": "acme.com",
        "API_ENDPOINT_URL": other_host.url,
        "API_KEY": KEY,
    }
    done = subprocess.run(
        [VAULTMAIL, "upload", "-i", str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (step1, step2) = other_host.requests
    assert (step1[0], step1[1]) == ("POST", "/v1/uploads") and step1[2]["x-api-key"] == KEY
    assert (step2[0], step2[1]) == ("PUT", "/slot/1") and "x-api-key" not in step2[2]


def test_plain_http_to_another_host_is_refused_before_any_request(tmp_path: Path) -> None:
    path = tmp_path / "m.eml"
    path.write_bytes(mail("plain"))
    env = {
        "PATH": "/usr/bin:/bin",
        "PRIMARY_DOMAIN": "acme.com",
        "API_ENDPOINT_URL": "http://api.example.test",
        "API_KEY": KEY,
    }
    done = subprocess.run(
        [VAULTMAIL, "upload", "-i", str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode != 0 and "https://" in done.stderr and KEY not in done.stderr


# ---- forged pointers (issue 20, part 2) ------------------------------------------------------------


@pytest.mark.parametrize("name", ["envelope-s3.json", "ses-s3-action.json", "extended-client-pointer.json"])
def test_a_forged_pointer_archives_nothing(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # the template's value: the payload bucket and the mail bucket's SES prefix only
    monkeypatch.setenv("POINTER_LOCATIONS", f"vaultmail-payloads/,{lambda_world.bucket}/ses/")
    runtime.reset()
    lambda_world.s3.put_object(
        Bucket=lambda_world.bucket, Key="private/ceo-board.eml", Body=mail("board", to="ceo@acme.com")
    )
    message = (FORGED / name).read_text()
    event = sns_event(
        {"MessageId": str(uuid.uuid4()), "TopicArn": lambda_world.topic, "Message": message}, {}
    )
    (result,) = SNS_APP.lambda_handler(event, FakeContext())["results"]
    assert result["status"] == "rejected", result
    assert result["reason"] == "InvalidEvent" and f"{lambda_world.bucket}/ses/" in result["message"]
    assert emulator.records() == []


def test_a_pointer_under_the_ses_prefix_is_archived(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POINTER_LOCATIONS", f"vaultmail-payloads/,{lambda_world.bucket}/ses/")
    runtime.reset()
    lambda_world.s3.put_object(Bucket=lambda_world.bucket, Key="ses/abc", Body=mail("ses", to="ops@acme.com"))
    note = json.loads((FORGED / "ses-s3-action.json").read_text())
    note["receipt"]["action"]["objectKey"] = "ses/abc"
    event = sns_event(
        {"MessageId": str(uuid.uuid4()), "TopicArn": lambda_world.topic, "Message": json.dumps(note)}, {}
    )
    (result,) = SNS_APP.lambda_handler(event, FakeContext())["results"]
    assert result["status"] == "archived", result
    assert len(emulator.records()) == 1
