"""``vaultmail inspect [-r ..] [-s ..] [--json] FILE...``: what would be archived where."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EXIT_OK, EXIT_UNKNOWN, VaultmailError
from ..settings import Settings
from ..source import FileSource
from ..vaults import select_vaults


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="show the addresses and vaults of mails, without uploading",
        description="Read only the header block of each FILE and show what would be archived where.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "-r", dest="recipients", metavar="ID,ID", action="append",
        help="extra vault ids, as for upload",
    )
    p.add_argument("-s", dest="sender", metavar="ID", action="append", help="sender id, as for upload")
    p.add_argument("--json", action="store_true", help="one JSON object per file per line")
    p.set_defaults(func=run)


def inspect_file(path: str, settings: Settings, recipients: str | None, sender: str | None) -> dict[str, Any]:
    """The ``--json`` object of one file (docs/cli.md); never raises.

    On failure ``error`` replaces ``vaults``; the address keys stay beside it whenever the
    header block could be read (an exit 6 shows what was found). An unexpected error is this
    file's exit 1, so that one file never hides the lines of the others.
    """
    found: dict[str, Any] = {}
    try:
        headers = FileSource.of(path).headers()
        found = headers.as_dict()
        selection = select_vaults(headers, settings.primary_domains, recipients=recipients, sender=sender)
    except VaultmailError as exc:
        return {"file": path, **found, "error": {"code": exc.exit_code, "message": exc.message}}
    except Exception as exc:  # a bug: say what it was, for this file only
        message = f"unexpected error: {type(exc).__name__}: {exc}"
        return {"file": path, **found, "error": {"code": EXIT_UNKNOWN, "message": message}}
    return {"file": path, **found, "vaults": sorted(selection.vaults)}


def _text(result: dict[str, Any]) -> str:
    lines = [f"{result['file']}:"]
    for key in ("from", "to", "cc", "bcc", "replyTo"):
        if result.get(key):
            lines.append(f"  {key:<9} {', '.join(result[key])}")
    for key in ("subject", "messageId", "date"):
        if result.get(key):
            lines.append(f"  {key:<9} {result[key]}")
    if "headerBytes" in result:
        lines.append(f"  {'header':<9} {result['headerBytes']} bytes")
    if "error" in result:
        error = f"error {result['error']['code']}: {result['error']['message']}"
        if len(lines) == 1:
            return f"{lines[0]} {error}"
        lines.append(f"  {'error':<9} {error}")
    else:
        lines.append(f"  {'vaults':<9} {', '.join(result['vaults'])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    code = EXIT_OK
    for path in args.files:
        result = inspect_file(path, settings, args.recipients, args.sender)
        if "error" in result and code == EXIT_OK:
            code = int(result["error"]["code"])
        print(json.dumps(result, ensure_ascii=False) if args.json else _text(result))
    sys.stdout.flush()
    return code
