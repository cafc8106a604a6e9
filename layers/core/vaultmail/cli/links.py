"""``vaultmail links``: the download links of one mail, and withdrawing them.

    vaultmail links list --key KEY [--bucket B] [--json] [--state-table T]
    vaultmail links revoke (--key KEY [--bucket B] | --url URL) [--state-table T]

The links are ``link#`` items in the state table (STATE_TABLE). ``list`` and ``revoke --key``
find a mail's links with a Scan of the table filtered on the key: it reads every item of the
table (idempotency records, claims, links), so it costs about one read unit per 4 KB of the
whole table; fine for an administrator's occasional question, never on a hot path.
``revoke --url`` names one link by its token's hash: one UpdateItem. Exit codes: 0 done,
1 no such link, 3 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import EXIT_OK, EXIT_UNKNOWN, InvalidArguments
from ..settings import Settings

if TYPE_CHECKING:
    from ..links import Link, LinkTable


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "links",
        help="list or revoke the download links of a mail",
        description="The download links of one mail (recipients, expiry, state, downloads), "
        "and withdrawing them.",
    )
    sub = p.add_subparsers(dest="links_command", metavar="ACTION", parser_class=type(p))
    sub.required = True
    show = sub.add_parser("list", help="the links made for a mail: recipients, expiry, state, downloads")
    show.add_argument("--key", required=True, help="the mail's object key")
    show.add_argument("--json", action="store_true", help="one JSON object per link and line")
    revoke = sub.add_parser("revoke", help="withdraw links: their next click gets 410")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", help="every link made for this object key")
    which.add_argument("--url", help="one link, as written in a notice")
    for q in (show, revoke):
        q.add_argument("--bucket", help="only the links of this bucket (default: any)")
        q.add_argument("--state-table", dest="state_table", help="DynamoDB state table (STATE_TABLE)")
        q.add_argument("-r", "--region", help="AWS region (default: the standard AWS configuration)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3

    from ..links import LinkTable

    settings = Settings.from_env()
    table = args.state_table or settings.state_table
    if not table:
        raise InvalidArguments("no state table: give --state-table or set STATE_TABLE")
    client = boto3.client("dynamodb", region_name=args.region) if args.region else boto3.client("dynamodb")
    return execute(args, LinkTable(client, table), now=time.time())


def execute(args: argparse.Namespace, links: LinkTable, *, now: float, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.links_command == "list":
        found = sorted(links.for_key(args.key, args.bucket), key=lambda link: link.created_at)
        for link in found:
            print(json.dumps(describe(link, now)) if args.json else line(link, now), file=out)
        if not found and not args.json:
            print(f"no links for {args.key}", file=out)
        return EXIT_OK
    return revoke(args, links, now, out)


def revoke(args: argparse.Namespace, links: LinkTable, now: float, out: TextIO) -> int:
    from ..links import short, token_from_url, token_hash

    if args.url:
        token = token_from_url(args.url)
        if token is None:
            raise InvalidArguments("--url is not a download link (https://.../m/<token>)")
        digests = [token_hash(token)]
    else:
        digests = [link.digest for link in links.for_key(args.key, args.bucket) if not link.revoked]
    done = [d for d in digests if links.revoke(d, now)]
    for digest in done:
        print(f"revoked {short(digest)}", file=out)
    if not done:
        print("no such link" if args.url else f"no active links for {args.key}", file=out)
        return EXIT_UNKNOWN if args.url else EXIT_OK
    return EXIT_OK


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(link: Link, now: float) -> dict[str, Any]:
    from ..links import short

    return {
        "hash": short(link.digest),
        "bucket": link.bucket,
        "key": link.key,
        "versionId": link.version_id,
        "etag": link.etag,
        "state": link.state(now),
        "createdAt": _date(link.created_at),
        "expiresAt": _date(link.expires_at),
        "downloads": link.downloads,
        "recipients": list(link.recipients),
    }


def line(link: Link, now: float) -> str:
    d = describe(link, now)
    people = ", ".join(d["recipients"][:3])
    if len(d["recipients"]) > 3:
        people += f" +{len(d['recipients']) - 3}"
    return f"{d['hash']}  {d['state']:<8} until {d['expiresAt']}  {d['downloads']:>3} downloads  {people}"
