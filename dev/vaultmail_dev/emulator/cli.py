"""``python -m vaultmail_dev.emulator --moto-url URL``: the emulator as a process. It prints
its URL on one line of standard output and serves until it is killed (SIGTERM or SIGINT)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .contract import DEFAULT_API_KEY, DEFAULT_BUCKET, DEFAULT_DOMAINS
from .service import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vaultmail_dev.emulator",
        description="Local emulator of the Active Store upload API (v1), storing into moto S3. "
        "Prints its URL on standard output, then serves until killed.",
    )
    parser.add_argument("--moto-url", required=True, help="base URL of the S3 emulator (moto)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument(
        "--domains",
        default=",".join(DEFAULT_DOMAINS),
        help="comma-separated primary domains (default acme.com)",
    )
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the accepted x-api-key")
    parser.add_argument(
        "--slot-method",
        type=str.upper,
        choices=("PUT", "POST"),
        default="POST",
        help="kind of upload slot to hand out (default POST)",
    )
    parser.add_argument(
        "--one-use-slots",
        action="store_true",
        help="every step 1 is a fresh upload whose slot stores once (default: same key, same upload)",
    )
    parser.add_argument("--bucket", default=DEFAULT_BUCKET, help="bucket of the active store")
    parser.add_argument("--slot-ttl", type=int, default=900, help="slot lifetime in seconds")
    parser.add_argument(
        "--public-url", default=None, help="base URL put in slots (default: from the request's Host header)"
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    emulator = Emulator(
        args.moto_url,
        domains=[d for d in args.domains.split(",") if d.strip()],
        api_key=args.api_key,
        slot_method=args.slot_method,
        bucket=args.bucket,
        slot_ttl=args.slot_ttl,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        one_use_slots=args.one_use_slots,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with emulator:
        print(emulator.url, flush=True)
        while not stopping.wait(1.0):
            pass
    return 0
