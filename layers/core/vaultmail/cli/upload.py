"""``vaultmail upload (-i PATH | -m TEXT) [-r ID,ID] [-s ID]``: the SDK's command line.

stderr says ``uploading NAME ...`` first and the summary (size, vaults) only once the mail is
stored; ``-v`` logs each step (headers and vaults, slot requested, bytes sent, stored); on a
terminal, mails over 1 MiB get a progress bar for the SHA-256 pass and for the send.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import urlsplit

from ..archive import prepare
from ..client import UploadClient
from ..errors import EXIT_OK, InvalidArguments
from ..headers import MailHeaders
from ..secrets import api_key
from ..settings import Settings
from ..source import CHUNK, BytesSource, FileSource, MailSource, discard, spool
from . import progress

log = logging.getLogger(__name__)

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


class Hashing:
    """A mail source whose SHA-256 pass draws a progress bar (``bar`` makes one per pass)."""

    def __init__(self, source: MailSource, bar: Callable[[str], progress.Bar] | None) -> None:
        self._source = source
        self._bar = bar

    @property
    def size(self) -> int:
        return self._source.size

    @property
    def name(self) -> str:
        return self._source.name

    def open(self) -> IO[bytes]:
        return self._source.open()

    def headers(self) -> MailHeaders:
        return self._source.headers()

    def sha256(self) -> str:
        if self._bar is None:
            return self._source.sha256()
        shown = self._bar("sha256")
        digest, done = hashlib.sha256(), 0
        try:
            with self._source.open() as stream:
                for chunk in iter(lambda: stream.read(CHUNK), b""):
                    digest.update(chunk)
                    done += len(chunk)
                    shown(done, self.size)
        finally:
            shown.close()
        return digest.hexdigest()


class Sent:
    """Counts the bytes the client sends (for ``-v``), and forwards them to a bar if any."""

    def __init__(self, shown: progress.Bar | None) -> None:
        self.bytes = 0
        self.shown = shown

    def __call__(self, done: int, total: int) -> None:
        self.bytes = done
        if self.shown is not None:
            self.shown(done, total)


def run(args: argparse.Namespace) -> int:
    source = source_of(args)
    try:
        settings = Settings.from_env()
        settings.require("primary_domains", "api_endpoint_url")
        client = UploadClient.from_settings(settings, api_key(settings))
        show = not args.quiet and sys.stderr.isatty() and source.size >= PROGRESS_MIN_BYTES
        if not args.quiet:
            print(f"vaultmail: uploading {source.name} ({source.size} bytes) ...", file=sys.stderr)
        plan = prepare(
            Hashing(source, progress.bar if show else None),
            settings,
            recipients=args.recipients,
            sender=args.sender,
        )
        log.info(
            "headers read (%d bytes); vaults %s; sender %s; sha256 %s",
            plan.headers.header_bytes,
            ", ".join(plan.selection.vaults),
            plan.selection.sender or "-",
            plan.request.sha256,
        )
        ticket = client.request_slot(plan.request)
        # the slot's URL is presigned: its query string is a credential, only the host is logged
        log.info(
            "slot requested: upload %s, %s to %s",
            ticket.upload_id,
            ticket.slot.method,
            urlsplit(ticket.slot.url).netloc,
        )
        sent = Sent(progress.bar("upload") if show else None)
        try:
            client.send_mail(ticket.slot, source, plan.request.file_name, sent)
        finally:
            if sent.shown is not None:
                sent.shown.close()
        attempts = client.attempts
        log.info(
            "stored: %d bytes sent (%d slot request(s), %d send(s))",
            sent.bytes,
            attempts["slot request"],
            attempts["upload"],
        )
    finally:
        discard(source)
    if not args.quiet:
        vaults = ", ".join(plan.selection.vaults)
        print(f"vaultmail: {source.name}: {plan.request.size} bytes to {vaults}", file=sys.stderr)
    print(f"uploaded {ticket.upload_id}")
    return EXIT_OK
