"""The scanner's steps as data: a MailResult is counted in one place (Tally.count), a
Conclusion is decided without I/O, the dry run's sender sends nothing, and a notice's link is
made at one call site (a LinkMaker's make)."""

from __future__ import annotations

import ast
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import get_args

import pytest

from vaultmail.errors import StateError
from vaultmail.headers import parse_header_block
from vaultmail.notices import Notice, compose_notice
from vaultmail.scanner import Listed, MailOutcome, ScanResult, ScanStats
from vaultmail.scanner.compose import audience, describe
from vaultmail.scanner.conclusions import NoticeProgress, conclude
from vaultmail.scanner.notify import DryRun
from vaultmail.scanner.tally import COUNTERS, OPEN, Kind, MailResult, Problem, Tally
from vaultmail.ses import SesError, SesUnavailable
from vaultmail.settings import Settings
from vaultmail.state import FAILED, NOTIFIED, SETTLED, Claim, LeaseLost

ROOT = Path(__file__).parents[2]
OBJ = Listed("mail/a.eml", 5000, etag='"e"', last_modified=100.0)


def tally() -> Tally:
    return Tally(ScanResult("b", ("mail/",)))


@pytest.mark.parametrize("kind", get_args(Kind))
def test_each_kind_adds_to_its_own_counter_and_no_other(kind: Kind) -> None:
    t = tally()
    t.count(MailResult(OBJ, kind), now=200.0)
    counted = {f.name: getattr(t.stats, f.name) for f in fields(ScanStats) if getattr(t.stats, f.name)}
    expected = {"scanned": 1}
    if kind not in ("ignore", "small"):
        expected |= {"oversize": 1, "oversize_bytes": OBJ.size}
    if kind in COUNTERS:
        expected[COUNTERS[kind]] = 1
    if kind == "given-up":
        expected["gave_up"] = 1
    assert counted == expected
    assert (t.oldest_open == 100.0) == (kind in OPEN)
    assert t.result.latencies == ([100.0] if kind == "notified" else [])


def test_a_result_carries_its_sends_row_problem_and_stop() -> None:
    t = tally()
    seen: list[MailOutcome] = []
    t.on_outcome = seen.append
    stop = SesUnavailable("throttled")
    row = MailOutcome(OBJ.key, OBJ.size, "failed", error="throttled")
    t.count(
        MailResult(
            OBJ, "failed", row, bytes_read=64, sends=2, told=70, problem=Problem(OBJ.key, stop), stop=stop
        ),
        0,
    )
    s = t.stats
    assert (s.failed, s.bytes_read, s.notices_sent, s.recipients_notified) == (1, 64, 2, 70)
    assert seen == [row] == t.result.outcomes
    assert t.stop_sending is stop and t.result.stopped_sending == "throttled"
    assert t.problems == ["mail/a.eml: SesUnavailable: throttled"]
    t.count(MailResult(OBJ, "halted", halt=StateError("down")), 0)
    assert t.result.halted == "state table failed at mail/a.eml: down"
    t.count(MailResult(OBJ, "over-cap", recipients=20_000), 0)
    assert t.result.over_cap == [(OBJ.key, 20_000)] and t.stats.over_cap == 1


def notice(*addresses: str) -> Notice:
    block = f"From: a@x.example\r\nTo: {', '.join(addresses)}\r\nSubject: s\r\n\r\n".encode()
    return compose_notice(
        parse_header_block(block),
        notify_from="n@acme.com",
        link="https://l",
        expires_at=datetime(2030, 1, 1),
        size=1,
        threshold=1,
        filename="s.eml",
    )


CLAIM = Claim("id", "me", 0)


def test_conclusions_are_data() -> None:
    n = notice("a@acme.com", "b@acme.com")
    told = NoticeProgress(CLAIM, 0, told=["a@acme.com", "b@acme.com"])
    c = conclude(told, n)
    assert (c.kind, c.ending and c.ending.write, c.ending and c.ending.when) == (
        "notified",
        "complete",
        "confirm",
    )
    assert c.ending is not None and c.ending.status == NOTIFIED

    lost = conclude(NoticeProgress(CLAIM, 0, error=LeaseLost("gone")), n)
    assert (lost.kind, lost.ending) == ("failed", None)

    unrecorded = NoticeProgress(CLAIM, 0, told=["a@acme.com", "b@acme.com"], unrecorded=["b@acme.com"])
    unrecorded.error = StateError("record failed")
    c = conclude(unrecorded, n)
    assert c.ending is not None and (c.ending.write, c.ending.when, c.ending.told) == (
        "complete",
        "later",
        ("b@acme.com",),
    )

    c = conclude(NoticeProgress(CLAIM, 0, error=SesUnavailable("throttled")), n)
    assert (
        c.stop is not None and c.ending is not None and (c.ending.status, c.ending.when) == (FAILED, "close")
    )

    fifth = NoticeProgress(
        Claim("id", "me", 0, rejections=4), 0, told=["a@acme.com"], rejected={"b@acme.com": "no"}
    )
    c = conclude(fifth, n)
    assert c.kind == "given-up" and c.ending is not None and c.ending.status == SETTLED
    assert c.dropped == ("b@acme.com (rejected by SES)",) and isinstance(c.error, SesError)


def test_the_dry_run_sender_sends_nothing_and_counts_the_sends_it_would_make() -> None:
    block = ("To: " + ", ".join(f"r{i}@acme.com" for i in range(120)) + "\r\nSubject: s\r\n\r\n").encode()
    headers = parse_header_block(block)
    who = audience(headers, Settings(max_notice_recipients=200))
    row = describe(OBJ, headers, 10, who)
    result = DryRun().notify(OBJ, "id", headers, row, who)
    assert (result.kind, result.sends, result.row and result.row.notices) == ("would-notify", 0, 3)
    assert result.row is not None and len(result.row.recipients) == 120
    assert DryRun().stats_mail(ScanResult("b", ()), []) is None


def test_a_notice_link_is_made_at_one_call_site() -> None:
    """A LinkMaker's ``make`` is the one seam where a notice's link is made (token links, or a
    presigned GET: sign_link, called by PresignedLinks alone)."""
    calls: dict[str, list[str]] = {"make": [], "sign_link": []}
    for path in (ROOT / "layers" / "core" / "vaultmail" / "scanner").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in calls and (name == "sign_link" or "links" in ast.unparse(node.func)):
                    calls[name].append(path.name)
    assert calls == {"make": ["notify.py"], "sign_link": ["links.py"]}
