"""Progress bars for the command line: bytes done, rate, elapsed time and ETA.

tqdm draws them when it is installed (``pip install 'vaultmail[cli]'``; the dev extra has it);
it is imported here only, lazily, and is never part of the Lambda layer. Without it, a plain
one-line bar says the same. Both take ``(done, total)`` calls, as the upload client's
``progress`` does.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol


class Bar(Protocol):
    def __call__(self, done: int, total: int) -> None: ...

    def close(self) -> None: ...


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class PlainBar:
    """``label [####------]  40% 20.0/50.0 MB 85.1 MB/s 00:01<00:02``: redrawn once per percent."""

    def __init__(
        self,
        label: str,
        stream: Any = sys.stderr,
        width: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream
        self.width = width
        self._clock = clock
        self._start = clock()
        self._last = -1
        self._done = False

    def __call__(self, done: int, total: int) -> None:
        percent = done * 100 // total if total else 100
        if percent < self._last:  # a retry sends the mail again from its start
            self._done = False
            self._start = self._clock()
        elif percent == self._last or self._done:
            return
        self._last = percent
        elapsed = self._clock() - self._start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        filled = self.width * percent // 100
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {percent:3d}% {done / 1e6:.1f}/{total / 1e6:.1f} MB "
            f"{rate / 1e6:.1f} MB/s {_clock_text(elapsed)}<{_clock_text(eta)}"
        )
        if done >= total:
            self.stream.write("\n")
            self._done = True
        self.stream.flush()

    def close(self) -> None:
        if self._last >= 0 and not self._done:
            self.stream.write("\n")
            self.stream.flush()
        self._done = True


class _TqdmBar:
    def __init__(self, tqdm: Any, label: str, stream: Any) -> None:
        self._tqdm = tqdm
        self._label = label
        self._stream = stream
        self._bar: Any = None
        self._seen = 0

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            # a terminal that reports a 0 x 0 size (a pty under `script`, some CI) would make tqdm
            # draw nothing: the fallback 80 x 24 instead
            size = shutil.get_terminal_size()
            self._bar = self._tqdm(
                total=total,
                desc=self._label,
                unit="B",
                unit_scale=True,
                file=self._stream,
                leave=True,
                ncols=size.columns,
                nrows=size.lines,
            )
        if done < self._seen:  # a retry starts the send again
            self._bar.reset(total=total)
            self._seen = 0
        self._bar.update(done - self._seen)
        self._seen = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def bar(label: str, stream: Any = sys.stderr) -> Bar:
    """A tqdm bar if tqdm is installed, else a :class:`PlainBar`."""
    try:
        from tqdm import tqdm
    except ImportError:
        return PlainBar(label, stream)
    return _TqdmBar(tqdm, label, stream)
