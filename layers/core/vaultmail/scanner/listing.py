"""The sweep: list each scanned prefix page by page, resuming after a cursor, skipping what
an earlier completed pass decided (the watermark), and cutting cleanly before the deadline.

Per page: one ListObjectsV2 (1,000 keys), then one BatchGetItem for the page's oversize mails
modified at or after the watermark (none on a sweep with nothing new), then each decision.
The deadline is checked before each page is fetched and before each notice, so a cut
invocation never throws away a page it has fetched: the next one lists with ``StartAfter``
the last key it finished. A pass spans invocations (its start and its oldest undecided mail
ride in the cursor item, :mod:`.passes`); the pass that ends records the prefix's watermark.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from .. import s3 as s3io
from ..errors import ConfigurationError, StateError
from .mail import MailStep
from .passes import SweepPass, SweepPasses
from .plan import Listed, candidate_ids, plan, prefix_order
from .run import Run

log = logging.getLogger("vaultmail.scanner")

PAGE_SIZE = 1000


class Sweep:
    """One invocation's part of a sweep over every scanned prefix."""

    def __init__(self, run: Run, step: MailStep) -> None:
        self.run = run
        self.sc = run.sc
        self.step = step
        state = run.sc.state
        self.passes = (
            SweepPasses(state.db, state.table, clock=run.sc.clock) if state and not run.dry_run else None
        )

    @property
    def rule(self) -> str:
        """The settings a watermark is valid under: what decides whether a mail is to be notified."""
        s = self.sc.settings
        return f"{s.size_threshold_bytes}|{','.join(sorted(x.lower() for x in s.scan_suffixes))}|" + ",".join(
            s.allowed_recipient_domains
        )

    def execute(self) -> None:
        result = self.run.result
        loaded: dict[str, SweepPass] = {}
        if self.passes is not None:
            try:
                loaded = {p: self.passes.get(self.sc.bucket, p) for p in result.prefixes}
            except StateError as exc:  # not knowing where to resume, do nothing rather than redo
                self.run.halt("(cursors)", exc)
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
        started = (sp.started_at or 0.0) if resuming else self.sc.clock()
        self.run.oldest_open = sp.open_before if resuming else None
        watermark = sp.watermark_for(self.rule) if self.passes is not None else None
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
            if self.run.result.halted
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
                self.sc.bucket, prefix, stopped_after, started_at=started, open_before=self.run.oldest_open
            )
        except StateError as exc:  # the next invocation lists the prefix from its start: only costs reads
            self.run.problem(f"(cursor of {prefix or '/'})", exc, "could not store a cursor")

    def end_pass(self, prefix: str, started: float) -> None:
        """The prefix's watermark: before it, every oversize mail is notified or settled."""
        if self.passes is None:
            return
        mark = started - self.sc.watermark_margin
        if self.run.oldest_open is not None:
            mark = min(mark, self.run.oldest_open)
        try:
            self.passes.finish(self.sc.bucket, prefix, started_at=started, watermark=mark, rule=self.rule)
        except StateError as exc:  # the next pass looks up more (the old watermark stays): only costs reads
            self.run.problem(f"(cursor of {prefix or '/'})", exc, "could not record a watermark")

    def pages(self, prefix: str, start_after: str | None) -> Iterator[list[Listed]]:
        args: dict[str, Any] = {"Bucket": self.sc.bucket, "PaginationConfig": {"PageSize": PAGE_SIZE}}
        if prefix:
            args["Prefix"] = prefix
        if start_after:
            args["StartAfter"] = start_after
        paginator = self.sc.s3.get_paginator("list_objects_v2")
        where = f"s3://{self.sc.bucket}/{prefix}"
        try:
            with s3io.converted(where):
                for page in paginator.paginate(**args):
                    yield [Listed.from_s3(item) for item in page.get("Contents", [])]
        except (s3io.MailGone, s3io.AccessDenied) as exc:  # no such bucket, or no right to list it
            raise ConfigurationError(f"cannot list {where}: {exc.message}") from exc

    def scan_prefix(self, prefix: str, start_after: str | None, watermark: float | None = None) -> str | None:
        """Scan one prefix. Returns None when done, else the key to resume after ("" if none)."""
        run, settings = self.run, self.sc.settings
        last_done = start_after or ""
        pages = self.pages(prefix, start_after)
        while not run.out_of_time():  # checked before a page is fetched: none is thrown away
            objects = next(pages, None)
            if objects is None:
                return None
            ids = candidate_ids(
                objects,
                bucket=self.sc.bucket,
                suffixes=settings.scan_suffixes,
                threshold=settings.size_threshold_bytes,
                watermark=watermark,
                skip_prefixes=settings.ses_key_prefixes,
            )
            try:
                records = self.sc.state.get_many(ids) if (self.sc.state is not None and ids) else {}
            except StateError as exc:  # resume with this page next run
                run.halt(f"the page after {last_done or prefix or '/'}", exc)
                return last_done
            decisions = plan(
                objects,
                bucket=self.sc.bucket,
                suffixes=settings.scan_suffixes,
                threshold=settings.size_threshold_bytes,
                records=records,
                now=self.sc.clock(),
                assume_notified=run.assume_notified,
                watermark=watermark,
                skip_prefixes=settings.ses_key_prefixes,
            )
            for decision in decisions:
                if decision.action == "notify" and run.out_of_time():
                    return last_done
                self.step.apply(decision)
                if run.result.halted:  # this mail was not done: resume with it
                    return last_done
                last_done = decision.obj.key
        return last_done
