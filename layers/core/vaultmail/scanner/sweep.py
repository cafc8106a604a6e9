"""The loop: each decision goes to :class:`~.steps.MailSteps`, each result to the one tally.

:meth:`Loop.sweep` lists each scanned prefix page by page, resuming after a cursor, skipping
what an earlier completed pass decided (the watermark), and cutting cleanly before the
deadline; :meth:`Loop.arrival` decides one object (no listing, one state read).

Per page: one ListObjectsV2 (1,000 keys), then one BatchGetItem for the page's oversize mails
modified at or after the watermark (none on a sweep with nothing new), then each decision.
The deadline is checked before each page is fetched and before each notice, so a cut
invocation never throws away a page it has fetched: the next one lists with ``StartAfter``
the last key it finished. A pass spans invocations (its start and its oldest undecided mail
ride in the cursor item, :mod:`.passes`); the pass that ends records the prefix's watermark.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import StateError
from ..settings import Settings
from ..state import Record
from . import listing
from .passes import SweepPass, SweepPasses
from .plan import Decision, Listed, candidate_ids, in_prefixes, out_of_time, plan, prefix_order
from .steps import MailSteps
from .tally import MailResult, Problem, Tally

log = logging.getLogger("vaultmail.scanner")

Lookup = Callable[[Sequence[str]], Mapping[str, Record]]


@dataclass(frozen=True)
class LoopConfig:
    """What one run of the loop is given."""

    settings: Settings
    bucket: str
    s3: Any
    clock: Callable[[], float]
    safety_margin_ms: int
    watermark_margin: float
    remaining_ms: Callable[[], int] | None = None
    assume_notified: Container[str] = frozenset()


def rule(s: Settings) -> str:
    """The settings a watermark is valid under: what decides whether a mail is to be notified."""
    suffixes = ",".join(sorted(x.lower() for x in s.scan_suffixes))
    domains = ",".join(s.allowed_recipient_domains)
    ses = ",".join(sorted(s.ses_key_prefixes))  # a prefix no longer SES's must be swept again
    return f"{s.size_threshold_bytes}|{suffixes}|{domains}|{s.max_notice_recipients}|{ses}"


class Loop:
    """One invocation's run; the only owner of its mutable state (:class:`~.tally.Tally`)."""

    def __init__(
        self,
        cfg: LoopConfig,
        steps: MailSteps,
        tally: Tally,
        *,
        lookup: Lookup | None,
        passes: SweepPasses | None,
    ) -> None:
        self.cfg = cfg
        self.steps = steps
        self.tally = tally
        self.lookup = lookup
        self.passes = passes

    def out_of_time(self, margin_ms: int | None = None) -> bool:
        return out_of_time(
            self.cfg.remaining_ms, self.cfg.safety_margin_ms if margin_ms is None else margin_ms
        )

    def apply(self, decision: Decision) -> None:
        self.count(self.steps.apply(decision, self.tally.stop_sending))

    def count(self, result: MailResult) -> None:
        self.tally.count(result, self.cfg.clock())

    def decide(
        self, objects: list[Listed], records: Mapping[str, Record], watermark: float | None
    ) -> list[Decision]:
        s = self.cfg.settings
        return plan(
            objects,
            bucket=self.cfg.bucket,
            suffixes=s.scan_suffixes,
            threshold=s.size_threshold_bytes,
            records=records,
            now=self.cfg.clock(),
            assume_notified=self.cfg.assume_notified,
            watermark=watermark,
            skip_prefixes=s.ses_key_prefixes,
        )

    # -- the arrival path ----------------------------------------------------------------------

    def arrival(self, obj: Listed) -> None:
        """Decide and notify one object: outside the scanned prefixes it is only counted."""
        prefixes = [p for p in self.tally.result.prefixes if p]
        if not in_prefixes(obj.key, prefixes):
            return self.count(MailResult(obj, "ignore"))
        decision = self.decide([obj], {}, None)[0]
        if decision.action == "notify" and decision.state_id is not None and self.lookup is not None:
            try:
                records = self.lookup([decision.state_id])
            except StateError as exc:  # not counted: the event is delivered again
                return self.tally.halt(obj.key, exc)
            decision = self.decide([obj], records, None)[0]
        self.apply(decision)
        return None

    # -- the sweep ------------------------------------------------------------------------------

    def sweep(self) -> None:
        result = self.tally.result
        loaded: dict[str, SweepPass] = {}
        if self.passes is not None:
            try:
                loaded = {p: self.passes.get(self.cfg.bucket, p) for p in result.prefixes}
            except StateError as exc:  # not knowing where to resume, do nothing rather than redo
                self.tally.halt("(cursors)", exc)
                result.complete = False
                return
        for prefix in prefix_order(result.prefixes, {p: sp.start_after for p, sp in loaded.items()}):
            if not self.sweep_prefix(loaded.get(prefix) or SweepPass(prefix)):
                result.complete = False
                return

    def sweep_prefix(self, sp: SweepPass) -> bool:
        """Sweep one prefix from its cursor; False when cut (the cursor is saved)."""
        resuming = bool(sp.start_after)
        # a cursor without its pass's start (written before watermarks): no watermark from it
        started = (sp.started_at or 0.0) if resuming else self.cfg.clock()
        self.tally.oldest_open = sp.open_before if resuming else None
        watermark = sp.watermark_for(rule(self.cfg.settings)) if self.passes is not None else None
        if resuming:
            log.info("resuming after a cursor", extra={"prefix": sp.prefix, "start_after": sp.start_after})
        stopped_after = self.scan_prefix(sp.prefix, sp.start_after, watermark)
        if stopped_after is None:
            self.end_pass(sp.prefix, started)
            return True
        if stopped_after:
            self.save_cut(sp.prefix, stopped_after, started)
        log.warning(
            "stopping early (the state table failed); the next run resumes"
            if self.tally.result.halted
            else "stopping before the deadline; the next invocation resumes",
            extra={"prefix": sp.prefix, "start_after": stopped_after},
        )
        return False

    def save_cut(self, prefix: str, stopped_after: str, started: float) -> None:
        """The cursor, with the pass's start and its oldest undecided mail so far."""
        if self.passes is None:
            return
        try:
            self.passes.cut(
                self.cfg.bucket, prefix, stopped_after, started_at=started, open_before=self.tally.oldest_open
            )
        except StateError as exc:  # the next invocation lists the prefix from its start: only costs reads
            self.tally.problem(_cursor_problem(prefix, exc, "could not store a cursor"))

    def end_pass(self, prefix: str, started: float) -> None:
        """The prefix's watermark: before it, every oversize mail is notified or settled."""
        if self.passes is None:
            return
        mark = started - self.cfg.watermark_margin
        if self.tally.oldest_open is not None:
            mark = min(mark, self.tally.oldest_open)
        try:
            self.passes.finish(
                self.cfg.bucket, prefix, started_at=started, watermark=mark, rule=rule(self.cfg.settings)
            )
        except StateError as exc:  # the next pass looks up more (the old watermark stays): only costs reads
            self.tally.problem(_cursor_problem(prefix, exc, "could not record a watermark"))

    def scan_prefix(self, prefix: str, start_after: str | None, watermark: float | None = None) -> str | None:
        """Scan one prefix. Returns None when done, else the key to resume after ("" if none)."""
        last_done = start_after or ""
        pages = listing.pages(self.cfg.s3, self.cfg.bucket, prefix, start_after)
        while not self.out_of_time():  # checked before a page is fetched: none is thrown away
            objects = next(pages, None)
            if objects is None:
                return None
            try:
                records = self.records(objects, watermark)
            except StateError as exc:  # resume with this page next run
                self.tally.halt(f"the page after {last_done or prefix or '/'}", exc)
                return last_done
            for decision in self.decide(objects, records, watermark):
                if decision.action == "notify" and self.out_of_time():
                    return last_done
                self.apply(decision)
                if self.tally.result.halted:  # this mail was not done: resume with it
                    return last_done
                last_done = decision.obj.key
        return last_done

    def records(self, objects: list[Listed], watermark: float | None) -> Mapping[str, Record]:
        """What the state table says about a page's oversize mails after the watermark."""
        s = self.cfg.settings
        ids = candidate_ids(
            objects,
            bucket=self.cfg.bucket,
            suffixes=s.scan_suffixes,
            threshold=s.size_threshold_bytes,
            watermark=watermark,
            skip_prefixes=s.ses_key_prefixes,
        )
        return self.lookup(ids) if (self.lookup is not None and ids) else {}


def _cursor_problem(prefix: str, exc: StateError, what: str) -> Problem:
    return Problem(f"(cursor of {prefix or '/'})", exc, what)
