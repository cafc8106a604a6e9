"""``make demo``'s download links: a notice's link clicked (302 to the pinned version), a HEAD
(not counted), ``vaultmail links list``, a revoke, and the click after it (410)."""

from __future__ import annotations

import html
import io
import re
import time
from argparse import Namespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from vaultmail.cli.links import execute
from vaultmail.links import LinkTable, short, token_from_url, token_hash

from .stack import LocalStack


def show(stack: LocalStack, notices: list[dict[str, Any]]) -> list[str]:
    """Print the walk-through for the first notice with a link; the problems found."""
    print("\n=== Download links (the download function behind its function URL) ===")
    base = stack.function_url("download")
    links = [html.unescape(m.group(1)) for n in notices if (m := re.search(r'href="([^"]+)"', n["body"]))]
    link = next((x for x in links if x.startswith(base)), None)
    if link is None:
        print("  WRONG    no notice carries a link of the download function")
        return ["no token link in the notices"]
    digest = token_hash(token_from_url(link) or "")
    table = LinkTable(stack.client("dynamodb"), stack.table())
    item = table.get(digest)
    assert item is not None
    problems: list[str] = []
    print(f"  link     {base}m/<token>  (token hash {short(digest)}; the table keeps only the hash)")
    click = requests.get(link, allow_redirects=False, timeout=60)
    version = parse_qs(urlsplit(click.headers.get("Location", "")).query).get("versionId", ["-"])[0]
    print(f"  GET      {click.status_code} -> presigned GET of {item.key} version {version}")
    head = requests.head(link, allow_redirects=False, timeout=60)
    counted = table.get(digest)
    still = counted.downloads if counted else "?"
    print(f"  HEAD     {head.status_code} (a mail scanner's prefetch), downloads still {still}")
    out = io.StringIO()
    execute(
        Namespace(links_command="list", key=item.key, bucket=None, json=False),
        table,
        now=time.time(),
        out=out,
    )
    print(
        "  vaultmail links list --key " + item.key + "\n    " + out.getvalue().strip().replace("\n", "\n    ")
    )
    revoke = Namespace(links_command="revoke", url=link, key=None, bucket=None)
    execute(revoke, table, now=time.time(), out=io.StringIO())
    after = requests.get(link, allow_redirects=False, timeout=60)
    print(f"  vaultmail links revoke --url <link>; GET now {after.status_code} ({_title(after.text)})")
    if (click.status_code, head.status_code, after.status_code) != (302, 302, 410):
        problems.append(f"download link answers {click.status_code}/{head.status_code}/{after.status_code}")
    return problems


def _title(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page)
    return found.group(1) if found else page[:40]
