"""``vaultmail replay --queue-url URL --function NAME``: re-drive an uploader's dead-letter queue."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EXIT_OK, EXIT_UNKNOWN


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "replay",
        help="re-invoke the events in an uploader's dead-letter queue",
        description="Read Lambda destination records from the dead-letter queue, invoke the function "
        "asynchronously with each original event, and delete the record. Safe to repeat: "
        "the uploaders are idempotent. A record without its event is listed, left in the queue, "
        "and makes the exit code 1.",
    )
    p.add_argument("--queue-url", required=True, help="the DLQ (stack outputs *DlqUrl)")
    p.add_argument("--function", required=True, help="the uploader's function name or ARN")
    p.add_argument("--max", type=int, default=None, help="replay at most this many events")
    p.add_argument("--dry-run", action="store_true", help="list what would be replayed; change nothing")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3

    from ..replay import replay

    count, skipped = 0, 0
    for item in replay(
        boto3.client("sqs"),
        boto3.client("lambda"),
        args.queue_url,
        args.function,
        limit=args.max,
        dry_run=args.dry_run,
    ):
        if item.skipped:
            skipped += 1
        else:
            count += 1
        if args.json:
            print(json.dumps(item.__dict__))
        elif item.skipped:
            print(f"skipped {item.message_id}, left in the queue: {item.skipped}")
        else:
            verb = "replayed" if item.invoked else "would replay"
            print(f"{verb} {item.message_id} ({item.condition or '?'}: {item.error or '?'})")
    print(f"{count} event(s) {'replayed' if not args.dry_run else 'found'}")
    if skipped:
        print(f"{skipped} message(s) skipped: not replayable, left in the queue", file=sys.stderr)
        return EXIT_UNKNOWN
    return EXIT_OK
