"""``vaultmail inspect`` over the header corpus: one file's failure never hides the others, and an
exit 6 still shows what the header block holds (design.md: the address keys beside ``error``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vaultmail import source
from vaultmail.cli import run

MAILS = Path(__file__).parent / "fixtures" / "mails"
ADDRESS_KEYS = ["from", "to", "cc", "bcc", "replyTo", "subject", "messageId", "date", "headerBytes"]


def inspect_json(capsys: pytest.CaptureFixture[str], *files: Path) -> tuple[int, list[dict[str, object]]]:
    code = run(["inspect", "--json", *map(str, files)])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.fixture(autouse=True)
def _primary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIMARY_DOMAIN", "x.test")


def test_a_poison_mail_neither_crashes_nor_hides_later_files(capsys: pytest.CaptureFixture[str]) -> None:
    files = [MAILS / "poison_nested_groups.eml", MAILS / "poison_nested_comments.eml", MAILS / "empty.eml",
             MAILS / "poison_nested_groups_with_a_member.eml"]
    code, lines = inspect_json(capsys, *files)
    assert [line["file"] for line in lines] == [str(f) for f in files]
    assert lines[0]["from"] == ["a@x.test"] and lines[0]["to"] == []
    assert lines[0]["vaults"] == ["a@x.test"]
    assert lines[1]["vaults"] == ["a@x.test", "c@x.test"]
    assert lines[2]["error"] == {"code": 3, "message": lines[2]["error"]["message"]}  # type: ignore[index]
    assert "from" not in lines[2]  # no header block: no address keys
    assert lines[3]["vaults"] == ["a@x.test", "member@x.test"]
    assert code == 3


def test_exit_6_keeps_the_address_keys_beside_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    mail = MAILS / "display_name_looks_like_an_address.eml"
    code, (line,) = inspect_json(capsys, mail)
    assert code == 6
    assert list(line) == ["file", *ADDRESS_KEYS, "error"]
    assert "vaults" not in line
    assert line["from"] == ["x@evil.test"]  # never the display name's ceo@acme.test
    assert line["headerBytes"] == mail.read_bytes().index(b"\n\n") + 1
    assert line["error"]["code"] == 6  # type: ignore[index]


def test_exit_6_in_text_output_shows_what_was_found(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIMARY_DOMAIN", "acme.test")
    mail = MAILS / "display_name_looks_like_an_address.eml"
    assert run(["inspect", str(mail)]) == 6
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{mail}:"
    assert "  from      x@evil.test" in out
    assert out[-1].startswith("  error     error 6: ")


def test_an_unexpected_error_is_that_files_exit_1_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = source.FileSource.headers
    bad = MAILS / "simple_lf.eml"

    def headers(self: source.FileSource) -> object:
        if self.name == str(bad):
            raise RuntimeError("a bug")
        return real(self)

    monkeypatch.setattr(source.FileSource, "headers", headers)
    code, lines = inspect_json(capsys, bad, MAILS / "poison_nested_groups.eml")
    assert code == 1
    assert lines[0]["error"] == {"code": 1, "message": "unexpected error: RuntimeError: a bug"}
    assert lines[1]["vaults"] == ["a@x.test"]
