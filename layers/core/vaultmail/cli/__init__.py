"""The ``vaultmail`` command: ``upload`` (the SDK's flags and exit codes), ``inspect``, ``scan``,
``replay``, ``backfill``, ``links``.

Exit codes are the SDK's (docs/cli.md): argparse errors exit 3, never 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import EXIT_INVALID_ARGUMENTS, EXIT_UNKNOWN, VaultmailError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error exits 3 (the SDK's "invalid arguments"), not 2."""

    commands: dict[str, ArgumentParser]

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID_ARGUMENTS, f"{self.prog}: error: {message}\n")


def build_parser() -> ArgumentParser:
    from . import backfill, inspect, links, replay, scan, upload

    parser = ArgumentParser(
        prog="vaultmail",
        description="Archive mail into Vaultastic's Active Store; notify recipients of oversize mail.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    subparsers.required = True
    upload.register(subparsers)
    inspect.register(subparsers)
    replay.register(subparsers)
    scan.register(subparsers)
    backfill.register(subparsers)
    links.register(subparsers)
    parser.commands = subparsers.choices
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((i for i, a in enumerate(args_list) if a not in ("-v", "--verbose")), None)
    if first is not None and args_list[first][:2] in ("-i", "-m", "-r", "-s"):
        args_list.insert(first, "upload")  # the SDK's script took its flags without a command
    parser = build_parser()
    args, unknown = parser.parse_known_args(args_list)
    if unknown:  # a flag the command does not know: the command's usage, not the top level's
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="vaultmail: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except VaultmailError as exc:
        print(f"vaultmail: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vaultmail: interrupted", file=sys.stderr)
        return EXIT_UNKNOWN
    except Exception as exc:  # exit 1 is the SDK's "unknown error": say what it was
        print(f"vaultmail: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))
