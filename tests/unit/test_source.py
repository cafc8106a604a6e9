"""Local mail sources: spooled streams, pipes, and the temporary copies they leave (none)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from vaultmail.errors import InvalidArguments
from vaultmail.source import BytesSource, FileSource, discard, from_any, spool

MAIL = b"From: a@acme.com\nTo: b@acme.com\nSubject: hi\n\nbody\n"


def test_spooled_copy_is_named_by_label_and_discarded(tmp_path: Path) -> None:
    source = spool(io.BytesIO(MAIL), label="<stdin>", directory=str(tmp_path))
    assert source.name == "<stdin>" and source.temporary
    assert source.size == len(MAIL) and source.headers().subject == "hi"
    discard(source)
    assert list(tmp_path.iterdir()) == []


def test_discard_leaves_the_callers_file_alone(tmp_path: Path) -> None:
    mail = tmp_path / "m.eml"
    mail.write_bytes(MAIL)
    discard(FileSource.of(mail))
    discard(BytesSource(MAIL))
    assert mail.read_bytes() == MAIL


def test_text_stream_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArguments, match="binary mode"):
        spool(io.StringIO(MAIL.decode()), directory=str(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(InvalidArguments, match="binary mode"):
        from_any(io.StringIO(MAIL.decode()))  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_failed_copy_leaves_no_file(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def readinto(self, buffer: object) -> int:
            raise OSError("connection reset")

    with pytest.raises(OSError, match="reset"):
        spool(Broken(), directory=str(tmp_path))  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_fifo_path_is_spooled(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # the writer, as a shell's <(cmd) would be
        with open(fifo, "wb") as out:
            out.write(MAIL)
        os._exit(0)
    source = FileSource.of(fifo)
    os.waitpid(pid, 0)
    try:
        assert source.temporary and source.name == str(fifo)
        with source.open() as fh:
            assert source.size == len(MAIL) and fh.read() == MAIL
    finally:
        discard(source)
    assert not source.path.exists()


@pytest.mark.parametrize("path", ["", "/nonexistent/m.eml", "/"])
def test_unreadable_paths_are_invalid_arguments(path: str) -> None:
    with pytest.raises(InvalidArguments):
        FileSource.of(path)
