"""``vaultmail upload (-i PATH | -m TEXT) [-r ID,ID] [-s ID]``: the SDK's command line."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..archive import UploadPlan, archive
from ..client import UploadClient
from ..errors import EXIT_OK, InvalidArguments
from ..secrets import api_key
from ..settings import Settings
from ..source import BytesSource, FileSource, MailSource, discard, spool

PROGRESS_MIN_BYTES = 1 << 20


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "upload",
        help="upload one mail into its vaults (the SDK's -i/-m/-r/-s)",
        description="Upload a raw RFC 822 mail (up to 50 MB) into the Active Store. "
        "Exit codes: 0 uploaded, 1 unknown error, 3 invalid arguments, 4 invalid recipient, "
        "5 upload failed, 6 no recipient on PRIMARY_DOMAIN.",
    )
    p.add_argument("-i", dest="path", metavar="PATH", help="the .eml file to upload ('-' for stdin)")
    p.add_argument("-m", dest="text", metavar="TEXT", help="the mail itself (ignored when -i is given)")
    # append: a repeated -r adds to the list; a repeated -s is refused (exit 4), never dropped
    p.add_argument(
        "-r", dest="recipients", metavar="ID,ID", action="append",
        help="vault ids on the primary domain",
    )
    p.add_argument(
        "-s", dest="sender", metavar="ID", action="append",
        help="the sender's id on the primary domain",
    )
    p.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
        help="log progress to stderr",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")
    p.set_defaults(func=run)


def source_of(args: argparse.Namespace) -> MailSource:
    """The mail to upload (a spooled copy for stdin or a pipe: :func:`discard` it afterwards)."""
    if args.path is not None:
        if args.text is not None:
            print("vaultmail: warning: -i and -m given; -m is ignored", file=sys.stderr)
        if args.path == "-":
            return spool(sys.stdin.buffer)
        return FileSource.of(args.path)
    if args.text is not None:
        if not args.text.strip():
            raise InvalidArguments("-m is empty")
        return BytesSource(args.text.encode("utf-8", "surrogateescape"), "<-m>")
    raise InvalidArguments("give the mail with -i PATH (or -i - for stdin) or -m TEXT")


class ProgressBar:
    """A one-line progress bar on a terminal's stderr."""

    def __init__(self, stream: Any = sys.stderr, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self._last = -1

    def __call__(self, sent: int, total: int) -> None:
        percent = sent * 100 // total if total else 100
        if percent == self._last:
            return
        self._last = percent
        filled = self.width * percent // 100
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\rupload [{bar}] {percent:3d}% {sent / 1e6:.1f}/{total / 1e6:.1f} MB")
        if sent >= total:
            self.stream.write("\n")
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    source = source_of(args)
    try:
        settings = Settings.from_env()
        settings.require("primary_domains", "api_endpoint_url")
        client = UploadClient.from_settings(settings, api_key(settings))
        show = not args.quiet and sys.stderr.isatty() and source.size >= PROGRESS_MIN_BYTES

        def announce(plan: UploadPlan) -> None:
            if not args.quiet:
                vaults = ", ".join(plan.selection.vaults)
                print(f"vaultmail: {source.name}: {plan.request.size} bytes to {vaults}", file=sys.stderr)

        result = archive(
            source,
            settings=settings,
            client=client,
            recipients=args.recipients,
            sender=args.sender,
            progress=ProgressBar() if show else None,
            on_plan=announce,
        )
    finally:
        discard(source)
    print(f"uploaded {result.upload_id}")
    return EXIT_OK
