"""`vaultmail scan` on moto over HTTP: dry runs (table and JSON), real runs, Woomera's flags and
file, and the exit codes (0 ok, 3 bad arguments or configuration, 5 a notice failed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vaultmail import cli

from .test_scanner import BUCKET, SENDER, TABLE, World, create_world, make_mail, moto_messages

VAULTMAIL = str(Path(sys.executable).with_name("vaultmail"))
SIZE = 300 * 1024  # over --threshold-mb 0.25
THRESHOLD = ["--threshold-mb", "0.25"]


@pytest.fixture
def world(aws_env: Any, moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    for name in ("MAIL_BUCKET", "SCAN_PREFIXES", "SIZE_THRESHOLD_BYTES", "ADMIN_EMAIL", "SCAN_SUFFIXES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NOTIFY_FROM", SENDER)
    monkeypatch.setenv("STATE_TABLE", TABLE)
    w = create_world(moto_server.url)
    w.put("mail/a.eml", make_mail(SIZE, to="ann@acme.com", subject="Plans"))
    w.put("mail/b.eml", make_mail(SIZE, to="ben@acme.com, bo@acme.com", subject="Budget"))
    w.put("mail/small.eml", make_mail(2048))
    w.put("other/c.eml", make_mail(SIZE, to="cy@acme.com"))
    return w


def scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.run(["scan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def state_items(world: World) -> list[dict[str, Any]]:
    return list(world.ddb.scan(TableName=TABLE).get("Items", []))


def test_dry_run_prints_a_table_and_changes_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = scan(capsys, "--bucket", BUCKET, "--prefix", "mail/", *THRESHOLD, "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["status", "size", "sends", "recipients", "key", "subject"]
    rows = sorted(lines[1:])
    assert len(rows) == 2
    assert rows[0].startswith("would-notify") and "ann@acme.com" in rows[0] and "mail/a.eml" in rows[0]
    assert "ben@acme.com, bo@acme.com" in rows[1] and "Budget" in rows[1]
    assert "dry run: 3 objects, 2 oversize" in err and "2 would be notified" in err
    assert moto_messages(world.url) == [] and state_items(world) == []


def test_dry_run_json_one_object_per_line(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = scan(
        capsys, "-b", BUCKET, "-p", "mail/", "-p", "other/", *THRESHOLD, "--dry-run", "--json"
    )
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    rows = [o for o in objects if "key" in o]
    assert {(o["key"], o["status"]) for o in rows} == {
        ("mail/a.eml", "would-notify"),
        ("mail/b.eml", "would-notify"),
        ("other/c.eml", "would-notify"),
    }
    a = next(o for o in rows if o["key"] == "mail/a.eml")
    assert a["recipients"] == ["ann@acme.com"] and a["subject"] == "Plans" and a["size"] == SIZE
    assert a["bytesRead"] <= 64 * 1024
    assert objects[-1]["summary"]["oversize"] == 3 and objects[-1]["dryRun"] is True


def test_real_run_then_nothing_new(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = scan(capsys, "-b", BUCKET, "-p", "mail/", *THRESHOLD, "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines() if '"key"' in line]
    assert sorted((r["key"], r["status"]) for r in rows) == [
        ("mail/a.eml", "notified"),
        ("mail/b.eml", "notified"),
    ]
    assert len(moto_messages(world.url)) == 2
    code, out, err = scan(capsys, "-b", BUCKET, "-p", "mail/", *THRESHOLD)
    assert code == 0
    assert "0 notified, 2 already notified" in err
    assert len(moto_messages(world.url)) == 2


def test_settings_from_the_environment(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_BUCKET", BUCKET)
    monkeypatch.setenv("SCAN_PREFIXES", "other/")
    monkeypatch.setenv("SIZE_THRESHOLD_BYTES", str(SIZE))
    code, out, err = scan(capsys, "--dry-run", "--json")
    assert code == 0, err
    assert [json.loads(line)["key"] for line in out.splitlines() if '"key"' in line] == ["other/c.eml"]


@pytest.mark.parametrize(
    ("unset", "args", "message"),
    [
        ("NOTIFY_FROM", ["-b", BUCKET], "NOTIFY_FROM"),
        ("STATE_TABLE", ["-b", BUCKET], "STATE_TABLE"),
        (None, [], "--bucket or MAIL_BUCKET"),
    ],
)
def test_missing_settings_exit_3(
    world: World,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    unset: str | None,
    args: list[str],
    message: str,
) -> None:
    if unset:
        monkeypatch.delenv(unset)
    code, _, err = scan(capsys, *args)
    assert code == 3
    assert "missing setting(s)" in err and message in err
    assert moto_messages(world.url) == []


def test_a_bucket_that_does_not_exist_exits_3(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = scan(capsys, "-b", "no-such-bucket", "--dry-run")
    assert code == 3 and "cannot list s3://no-such-bucket/" in err


def test_a_state_table_that_does_not_exist_exits_3(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = scan(capsys, "-b", BUCKET, *THRESHOLD, "--state-table", "no-such-table")
    assert code == 3 and "STATE_TABLE" in err and "ResourceNotFoundException" in err
    assert moto_messages(world.url) == []


def test_bad_arguments_exit_3(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.run(["scan", "-b", BUCKET, "--threshold-mb", "lots"])
    assert exc.value.code == 3
    code, _, err = scan(capsys, "-b", BUCKET, "--threshold-mb", "0")
    assert code == 3 and "--threshold-mb" in err


def test_a_failed_notice_exits_5(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.ses.delete_email_identity(EmailIdentity=SENDER)
    code, out, err = scan(capsys, "-b", BUCKET, "-p", "mail/", *THRESHOLD)
    assert code == 5
    assert "failed" in out and "1 failed" in err and "stopped sending" in err
    world.ses.create_email_identity(EmailIdentity=SENDER)
    code, _, err = scan(capsys, "-b", BUCKET, "-p", "mail/", *THRESHOLD)
    assert code == 0 and "2 notified" in err


WOOMERA_FILE = "mail/_PROCESSING/processedEmails.json"


def put_woomera(world: World, *keys: str) -> None:
    doc = {
        k: {
            "date": "Tue, 6 Jan 2015",
            "emailSent": "07-01-2015",
            "email": [{"from": "x", "to": [], "subject": ""}],
        }
        for k in keys
    }
    world.put(WOOMERA_FILE, json.dumps(doc).encode())


def test_woomera_file_in_a_dry_run_is_only_assumed(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    put_woomera(world, "mail/a.eml")
    code, out, err = scan(capsys, "-b", BUCKET, "-p", "mail/", *THRESHOLD, "-e", WOOMERA_FILE, "--dry-run")
    assert code == 0, err
    assert "mail/b.eml" in out and "mail/a.eml" not in out
    assert state_items(world) == []
    assert "dry run: Woomera import: 1 entries, 1 would be imported, 0 already known, 0 objects gone" in err


def test_a_dry_run_import_does_not_count_a_key_that_no_longer_exists(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    put_woomera(world, "mail/a.eml", "mail/gone.eml")
    code, _, err = scan(capsys, "-b", BUCKET, "-p", "mail/", *THRESHOLD, "-e", WOOMERA_FILE, "--dry-run")
    assert code == 0, err
    assert "Woomera import: 2 entries, 1 would be imported, 0 already known, 1 objects gone" in err


def test_missing_woomera_file_exits_3(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = scan(capsys, "-b", BUCKET, "-e", "nope/processedEmails.json")
    assert code == 3 and "no Woomera processed-emails file" in err
    assert moto_messages(world.url) == []


def test_woomera_command_line(world: World) -> None:
    """A Woomera user's command line, unchanged: exit 0, imported, warned about -k/-s, admin mail."""
    put_woomera(world, "mail/a.eml", "mail/gone.eml")
    env = {**os.environ, "SIZE_THRESHOLD_BYTES": str(SIZE)}
    done = subprocess.run(
        [
            VAULTMAIL,
            "scan",
            "-b",
            BUCKET,
            "-p",
            "mail/",
            "-r",
            "us-east-1",
            "-e",
            WOOMERA_FILE,
            "-k",
            "AKIAEXAMPLE",
            "-s",
            "secretexample",
            "-a",
            "admin@acme.com",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "prefer the standard AWS credential chain" in done.stderr
    assert "Woomera import: 2 entries, 1 imported, 0 already known, 1 objects gone" in done.stderr
    assert "1 notified, 1 already notified" in done.stderr
    sent = moto_messages(world.url)
    notices = [m for m in sent if m["subject"].startswith("Too large")]
    assert [m["destinations"]["ToAddresses"] for m in notices] == [["ben@acme.com", "bo@acme.com"]]
    admin = [m for m in sent if m["subject"].startswith("[vaultmail]")]
    assert [m["destinations"]["ToAddresses"] for m in admin] == [["admin@acme.com"]]
    assert "stats mail sent to admin@acme.com" in done.stderr


def test_woomera_key_pair_reaches_the_bucket_only(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Woomera's -k/-s were an S3 key pair; SES and the state table keep the credential chain."""
    from vaultmail.cli.scan import sessions_from, settings_from
    from vaultmail.scanner import Scanner

    args = cli.build_parser().parse_args(["scan", "-b", BUCKET, "-k", "AKIAS3ONLY", "-s", "s3-secret"])
    session, s3_session = sessions_from(args)
    scanner = Scanner.from_settings(settings_from(args), session=session, s3_session=s3_session)

    def key_id(client: Any) -> str:
        return str(client._request_signer._credentials.get_frozen_credentials().access_key)

    assert key_id(scanner.s3) == key_id(scanner.signer) == "AKIAS3ONLY"
    assert "AKIAS3ONLY" not in {key_id(scanner.ses), key_id(scanner.dynamodb)}
    assert "prefer the standard AWS credential chain" in capsys.readouterr().err


def test_missing_settings_name_the_flags_and_warn_about_keys_first(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFY_FROM")
    monkeypatch.delenv("STATE_TABLE")
    code, _, err = scan(capsys, "-b", BUCKET, "-k", "AKIAEXAMPLE", "-s", "secretexample")
    assert code == 3
    assert err.index("prefer the standard AWS credential chain") < err.index("missing setting(s)")
    assert "--notify-from or NOTIFY_FROM, --state-table or STATE_TABLE" in err


def test_warnings_name_the_mail_also_in_json(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.put("mail/nobody.eml", make_mail(SIZE, to=None))
    code, out, err = scan(capsys, "-b", BUCKET, "-p", "mail/", *THRESHOLD, "--dry-run", "--json")
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines() if '"mail/nobody.eml"' in line]
    assert (row["status"], row["warning"]) == ("no-recipients", "no recipient to notify")
    assert "vaultmail: warning: mail/nobody.eml: no recipient to notify" in err
