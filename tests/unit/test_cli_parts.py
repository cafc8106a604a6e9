"""Pieces of the command line that need no server: argument errors, progress bar, inspect."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultmail.cli import run

MAIL = Path(__file__).parent / "fixtures" / "mails"


def test_argparse_errors_exit_3_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        run(["upload", "--no-such-flag"])
    assert err.value.code == 3
    assert "unrecognized arguments" in capsys.readouterr().err


def test_missing_mail_exits_3(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIMARY_DOMAIN", "acme.com")
    assert run(["upload"]) == 3
    assert "-i PATH" in capsys.readouterr().err


def test_missing_settings_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PRIMARY_DOMAIN", "API_ENDPOINT_URL", "API_KEY", "API_KEY_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    mail = tmp_path / "m.eml"
    mail.write_bytes(b"From: a@acme.com\n\nhi\n")
    assert run(["upload", "-i", str(mail)]) == 3
    assert "PRIMARY_DOMAIN" in capsys.readouterr().err


def test_inspect_text_output(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIMARY_DOMAIN", "acme.com")
    sample = MAIL / "bcc_present.eml"
    assert run(["inspect", str(sample), str(MAIL / "empty.eml")]) == 3  # the first failure's code
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{sample}:"
    assert "  bcc       secret1@acme.com, secret2@acme.com" in out
    assert "  vaults    secret1@acme.com, secret2@acme.com" in out
    assert out[-1].startswith(f"{MAIL / 'empty.eml'}: error 3:")
