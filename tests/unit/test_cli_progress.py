"""The command line's progress bars and usage messages, without a server or a clock."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from vaultmail.cli import build_parser, progress, run
from vaultmail.cli.upload import Hashing
from vaultmail.source import FileSource

MAIL = Path(__file__).parent / "fixtures" / "mails"


class Clock:
    """A clock the test moves: rates and ETAs from known seconds, not from the wall."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_bar_shows_rate_elapsed_and_eta() -> None:
    out, clock = io.StringIO(), Clock()
    bar = progress.PlainBar("upload", out, width=10, clock=clock)
    clock.now += 2.0
    bar(20_000_000, 50_000_000)  # 20 MB in 2 s: 10 MB/s, 30 MB left: 3 s
    assert out.getvalue() == "\rupload [####------]  40% 20.0/50.0 MB 10.0 MB/s 00:02<00:03"
    clock.now += 3.0
    bar(50_000_000, 50_000_000)
    assert out.getvalue().endswith("100% 50.0/50.0 MB 10.0 MB/s 00:05<00:00\n")
    bar.close()  # already ended its line
    assert out.getvalue().count("\n") == 1


def test_plain_bar_draws_once_per_percent_and_restarts_on_a_retry() -> None:
    out = io.StringIO()
    bar = progress.PlainBar("upload", out, width=10, clock=Clock())
    for sent in range(0, 1001):
        bar(sent, 1000)
    assert out.getvalue().count("\r") == 101
    bar(10, 1000)  # a retried send starts again
    assert out.getvalue().count("\r") == 102


def test_a_bar_cut_short_ends_its_line() -> None:
    out = io.StringIO()
    bar = progress.PlainBar("sha256", out, clock=Clock())
    bar(1, 10)
    bar.close()
    assert out.getvalue().endswith("\n")


def test_without_tqdm_the_plain_bar_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name: str, *args: object, **kwargs: object) -> object:
        if name == "tqdm":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    assert isinstance(progress.bar("upload", io.StringIO()), progress.PlainBar)


def test_tqdm_bar_counts_every_byte() -> None:
    pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = progress.bar("upload", out)
    assert not isinstance(bar, progress.PlainBar)
    for done in (1 << 20, 2 << 20, 3 << 20):
        bar(done, 3 << 20)
    bar.close()
    text = out.getvalue()
    assert "upload: 100%" in text and "3.15M/3.15M" in text and "B/s" in text


def test_the_hashing_pass_draws_a_bar_and_hashes_the_same(tmp_path: Path) -> None:
    path = tmp_path / "big.eml"
    path.write_bytes(b"From: a@acme.com\n\n" + b"x" * (3 << 20))
    calls: list[tuple[int, int]] = []

    class Seen:
        def __call__(self, done: int, total: int) -> None:
            calls.append((done, total))

        def close(self) -> None:
            calls.append((-1, -1))

    source = FileSource.of(path)
    digest = Hashing(source, lambda label: Seen()).sha256()
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    size = path.stat().st_size
    assert calls[-2:] == [(size, size), (-1, -1)] and len(calls) == 5  # 4 reads of 1 MiB at most


def subcommands() -> list[str]:
    return sorted(build_parser().commands)


@pytest.mark.parametrize("command", subcommands())
def test_a_bad_flag_shows_the_subcommand_usage_and_exits_3(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as err:
        run([command, "-x"])
    assert err.value.code == 3
    text = capsys.readouterr().err
    assert text.startswith(f"usage: vaultmail {command} ")
    assert f"vaultmail {command}: error: " in text  # -x, or a required flag missing first


def test_every_command_is_checked() -> None:
    assert {"upload", "inspect", "scan", "replay", "backfill"} <= set(subcommands())
