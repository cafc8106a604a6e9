"""``vaultmail replay``: move dead-lettered messages back to their source queues (SQS redrive).

``run`` is the command on AWS (boto3's SQS client and ``SqsMover``). ``execute`` is the same
command with the clients and the mover given: the local stack calls it with its own mover
(``python -m vaultmail_dev.redrive``), since moto has no message move tasks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import EXIT_OK, EXIT_UNKNOWN, InvalidArguments

if TYPE_CHECKING:  # imported when the command runs: botocore is slow to import
    from ..replay import Backlog, Mover, Queue

DESCRIPTION = (
    "Move the messages of a dead-letter queue back to the queue they came from, with SQS's own "
    "redrive (StartMessageMoveTask), and show the task's progress until it ends. Safe to repeat: "
    "the uploaders are idempotent. --dry-run changes nothing (counts, sources, and with --peek a "
    "look at a few messages that leaves them visible). Exit 0 when every task completed, 1 otherwise."
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "replay",
        help="move a dead-letter queue's messages back to their source queue",
        description=DESCRIPTION,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--queue",
        "--queue-url",
        dest="queues",
        action="append",
        metavar="QUEUE",
        help="a dead-letter queue: URL, name or ARN (repeatable)",
    )
    where.add_argument("--stack", help="every dead-letter queue of this CloudFormation stack")
    p.add_argument("--dry-run", action="store_true", help="report what would move; change nothing")
    p.add_argument(
        "--peek", type=int, default=0, metavar="N", help="with --dry-run, show up to N (<= 10) messages"
    )
    p.add_argument(
        "--max-per-second", type=int, default=None, metavar="N", help="move at most N messages/s (1-500)"
    )
    p.add_argument("--cancel", action="store_true", help="cancel the running move task instead")
    p.add_argument("--no-wait", action="store_true", help="start the task and return without polling it")
    p.add_argument("--poll", type=float, default=2.0, metavar="S", help="seconds between polls (default 2)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3

    from ..replay import SqsMover

    sqs = boto3.client("sqs")
    return execute(args, sqs=sqs, mover=SqsMover(sqs), cloudformation=lambda: boto3.client("cloudformation"))


def execute(
    args: argparse.Namespace,
    *,
    sqs: Any,
    mover: Mover,
    cloudformation: Callable[[], Any] | None = None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    from .. import replay as core

    out = out or sys.stdout
    if args.peek and not args.dry_run:
        raise InvalidArguments("--peek goes with --dry-run")
    queues = _queues(args, sqs, cloudformation)
    ok = True
    for queue in queues:
        if args.cancel:
            ok &= _cancel(mover, queue, args, out)
            continue
        backlog = core.inspect(sqs, queue, peek=args.peek if args.dry_run else 0)
        if args.dry_run:
            _report(backlog, args, out)
            continue
        if not backlog.sources:
            raise InvalidArguments(f"{queue.name} is no queue's dead-letter queue: nothing to move back to")
        if backlog.visible == 0:
            _say(out, args, f"{queue.name}: empty, nothing to move", queue=queue.url, status="EMPTY", moved=0)
            continue
        destination = core.destination_of(sqs, backlog)
        ok &= _move(mover, queue, backlog, destination, args, out, sleep)
    return EXIT_OK if ok else EXIT_UNKNOWN


def _queues(args: argparse.Namespace, sqs: Any, cloudformation: Callable[[], Any] | None) -> list[Queue]:
    """The dead-letter queues named on the command line, or those of ``--stack``."""
    from .. import replay as core

    if not args.stack:
        return [core.resolve_queue(sqs, ref) for ref in args.queues]
    if cloudformation is None:
        raise InvalidArguments("--stack needs CloudFormation; give the queues with --queue")
    queues = core.stack_dead_letter_queues(cloudformation(), sqs, args.stack)
    if not queues:
        raise InvalidArguments(f"stack {args.stack} has no dead-letter queue")
    return list(queues)


def _report(backlog: Backlog, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        print(json.dumps({**backlog.to_json(), "dryRun": True}), file=out)
        return
    name = backlog.queue.name
    sources = ", ".join(backlog.sources) or "none (not a dead-letter queue)"
    print(f"{name}: {backlog.visible} message(s) visible, {backlog.in_flight} in flight", file=out)
    print(f"  sources (they go back there): {sources}", file=out)
    for p in backlog.peeked:
        sent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(p.sent / 1000)) if p.sent else "?"
        print(
            f"  {p.message_id}: sent {sent}, received {p.receives or '?'} time(s), {p.body_bytes} bytes"
            + (f", from {p.source_arn}" if p.source_arn else ""),
            file=out,
        )
    print(f"dry run: nothing moved; {backlog.visible} message(s) would move back", file=out)


def _move(
    mover: Mover,
    queue: Queue,
    backlog: Backlog,
    destination: str | None,
    args: argparse.Namespace,
    out: TextIO,
    sleep: Callable[[float], None],
) -> bool:
    from ..replay import replay

    last = None
    moves = replay(
        mover,
        queue,
        destination_arn=destination,
        max_per_second=args.max_per_second,
        poll_seconds=args.poll,
        sleep=sleep,
    )
    for task in moves:
        if args.json:
            print(json.dumps({"queue": queue.url, **task.to_json()}), file=out)
        elif (task.status, task.moved) != last:
            total = "?" if task.to_move is None else task.to_move
            print(f"{queue.name}: {task.status} {task.moved}/{total} moved", file=out)
        last = (task.status, task.moved)
        if args.no_wait:
            return True
    if task.status != "COMPLETED":
        print(f"{queue.name}: move task {task.status}: {task.failure or 'no reason given'}", file=sys.stderr)
        return False
    if not args.json:
        print(f"{queue.name}: {task.moved} message(s) moved back to {', '.join(backlog.sources)}", file=out)
    return True


def _cancel(mover: Mover, queue: Queue, args: argparse.Namespace, out: TextIO) -> bool:
    from ..replay import cancel

    task = cancel(mover, queue)
    if task is None:
        _say(out, args, f"{queue.name}: no move task running", queue=queue.url, status="NONE", moved=0)
        return True
    text = f"{queue.name}: {task.status}, {task.moved} moved before the cancel"
    _say(out, args, text, queue=queue.url, **task.to_json())
    return True


def _say(out: TextIO, args: argparse.Namespace, text: str, **data: Any) -> None:
    print(json.dumps(data) if args.json else text, file=out)
