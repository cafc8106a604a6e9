"""Sending one mail's notice (the effects), and the dry run that sends nothing.

:class:`Notifier`: claim -> make the notice's link (:class:`~.links.LinkMaker`: a token link
kept in the state table, or a presigned GET; none made: the claim is released and the mail
fails, to be tried again) -> compose (:mod:`.compose`) -> for each send of
at most 50 recipients: write ahead (``pending``), send (a send SES rejects is split in
halves, within ``split_sends`` extra sends, so that one address SES refuses does not hold
back the others), record who was told (``sent``) -> the addresses SES rejected alone in
earlier runs (``rejectedAlone``), if the budget reached everyone else: each alone, within
what is left of it -> :func:`~.conclusions.conclude` -> the write that ends the claim. Each
call returns a :class:`~.tally.MailResult`; nothing is counted here.

:class:`DryRun` answers the same calls without a claim, a send, a tag or a state write.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .. import s3 as s3io
from ..errors import StateError, StorageError
from ..headers import MailHeaders
from ..notices import MAX_RECIPIENTS, Email, Notice, halves
from ..ses import SesError, send_email
from ..settings import Settings
from ..state import NOTIFIED, SETTLED, LeaseLost, NotificationState
from .compose import Audience, Draft, MadeLink, compose, draft
from .conclusions import Conclusion, NoticeProgress, conclude
from .links import LinkMaker
from .plan import Listed
from .statewrites import StateWrites
from .stats import MailOutcome, ScanResult, StatsMail
from .statsmail import compose_stats
from .tally import Kind, MailResult, Problem

log = logging.getLogger("vaultmail.scanner")

NOTIFIED_TAG = "vaultmail-notified"
TOLD_UNRECORDED = "everyone was told, but the state table did not record it"


@dataclass(frozen=True)
class Mailer:
    """What sending needs: the clients and the run's knobs."""

    settings: Settings
    bucket: str
    s3: Any
    ses: Any
    links: LinkMaker
    clock: Callable[[], float]
    owner: str
    lease_seconds: int
    split_sends: int
    tag_objects: bool


class Notifier:
    """Claims a mail, sends its notice, and ends the claim."""

    def __init__(self, mailer: Mailer, state: NotificationState, writes: StateWrites) -> None:
        self.m = mailer
        self.state = state
        self.writes = writes

    def notify(
        self, obj: Listed, state_id: str, headers: MailHeaders, row: MailOutcome, who: Audience
    ) -> MailResult:
        m = self.m
        meta = {"bucket": m.bucket, "key": obj.key, "etag": obj.etag.strip('"')}
        try:
            claim = self.state.claim(state_id, owner=m.owner, lease_seconds=m.lease_seconds, meta=meta)
        except StateError as exc:  # the table is failing: stop, and resume with this mail next run
            return MailResult(obj, "halted", halt=exc)
        if claim is None:
            return self.taken(obj, state_id)
        d = NoticeProgress(claim, split_left=m.split_sends)
        what = draft(obj, m.bucket, headers, m.settings, who, d.claim.sent)
        try:
            link = m.links.make(what, now=m.clock())
        except (StateError, StorageError) as exc:  # no link, no notice: the next run tries again
            return self.no_link(obj, d, row, exc)
        except BaseException as exc:
            self.writes.release_now(d.claim, f"interrupted: {type(exc).__name__}", [], ())
            raise
        try:
            notice = self.deliver(obj, headers, d, what, link)
        except BaseException as exc:  # give the mail back at once rather than at lease expiry
            self.writes.release_now(
                d.claim, f"interrupted: {type(exc).__name__}", d.unrecorded, tuple(d.rejected)
            )
            raise
        return self.conclude(obj, d, notice, conclude(d, notice), replace(row, notices=d.sends))

    def taken(self, obj: Listed, state_id: str) -> MailResult:
        """The claim was refused: another run has the mail, or has just finished it."""
        try:
            record = self.state.get(state_id)
        except StateError:
            record = None
        if record is not None and record.status == NOTIFIED:
            return MailResult(obj, "notified-before")
        if record is not None and record.status == SETTLED:
            return MailResult(obj, "settled-before")
        return MailResult(obj, "busy")

    def no_link(
        self, obj: Listed, d: NoticeProgress, row: MailOutcome, exc: StateError | StorageError
    ) -> MailResult:
        """The link could not be made (state table or S3 failing, the object replaced): the
        claim is given back now and the mail fails this run, nobody told."""
        self.writes.release_now(d.claim, f"{exc.reason}: the download link was not made", [], ())
        row = replace(row, status="failed", error=f"no download link: {exc.message}")
        return MailResult(obj, "failed", row, problem=Problem(obj.key, exc))

    def deliver(
        self, obj: Listed, headers: MailHeaders, d: NoticeProgress, what: Draft, link: MadeLink
    ) -> Notice:
        """Sign, compose and send the notice (writing ahead and recording each send).

        Stops at the first error that ends the sending (``d.error``); recipients SES rejects
        alone are collected in ``d.rejected``, those the split budget did not reach in
        ``d.untried``, and the other sends go on. The recipients SES rejected alone in an
        earlier run are sent to last, each alone, and only if the budget reached everyone
        else: no budget is spent on them while others wait.
        """
        sent, apart = d.claim.sent, d.claim.rejected_alone
        notice = compose(obj, headers, self.m.settings, link=link, draft=what, already_sent=sent, apart=apart)
        for email in notice.emails:
            if not (self.begin_send(d, email.recipients) and self.send_part(d, email)):
                return notice
        if d.untried:  # the budget ran out: the addresses rejected before wait as well
            return notice
        retry = notice.alone[: d.split_left]
        d.split_left -= len(retry)
        if retry and self.begin_send(d, [a for email in retry for a in email.recipients]):
            for email in retry:
                if not self.send_part(d, email):
                    break
        return notice

    def begin_send(self, d: NoticeProgress, addresses: Sequence[str]) -> bool:
        try:
            self.writes.persist(lambda: self.state.begin_send(d.claim, addresses))
        except StateError as exc:  # nothing sent: the claim ends (released) without it
            d.error = exc
            return False
        return True

    def send_part(self, d: NoticeProgress, email: Email) -> bool:
        """Send ``email`` (split in halves while SES rejects it); False: stop this mail.

        Only a send to one recipient that SES rejects makes an address rejected
        (``d.rejected``); the recipients of a rejected send the split budget cannot halve
        any more are not tried alone in this run (``d.untried``), whoever SES refuses there.
        """
        try:
            send_email(self.m.ses, email)
        except SesError as exc:
            if exc.stop_run:
                d.error = exc
                return False
            if len(email.recipients) == 1:
                d.rejected[email.recipients[0]] = exc.message
            elif d.split_left >= 2:
                d.split_left -= 2
                return all(self.send_part(d, part) for part in halves(email))
            else:
                d.untried.update(dict.fromkeys(email.recipients, exc.message))
            return True
        d.sends += 1
        d.told_count += len(email.recipients)
        d.told.extend(email.recipients)
        d.unrecorded = list(email.recipients)  # until recorded (also for an exception raised here)
        try:
            d.claim = self.writes.persist(lambda: self.state.record_sent(d.claim, email.recipients))
        except StateError as exc:  # told but not recorded: send no more for this mail
            d.error = exc
            return False
        d.unrecorded = []
        return True

    def conclude(
        self, obj: Listed, d: NoticeProgress, notice: Notice, c: Conclusion, row: MailOutcome
    ) -> MailResult:
        """Make the conclusion's ending write; the mail's result."""
        ending, error, what = c.ending, c.error, ""
        if ending is not None and ending.when == "confirm":
            try:
                self.writes.end(d.claim, obj.key, ending)
            except StateError as exc:
                if not isinstance(exc, LeaseLost):
                    self.writes.later(d.claim, obj.key, ending)
                error, what = exc, TOLD_UNRECORDED
        elif ending is not None and ending.when == "close":
            self.writes.close(d.claim, obj.key, ending)
        elif ending is not None:
            self.writes.later(d.claim, obj.key, ending)
        if c.kind == "notified" and error is None:
            self.notified(obj, notice, row)
            row = replace(row, status="notified", recipients=notice.addresses)
            return MailResult(obj, "notified", row, sends=d.sends, told=d.told_count)
        assert error is not None
        message = f"{what}: {error.message}" if what else error.message
        kind: Kind = "given-up" if c.kind == "given-up" else "failed"
        row = replace(row, status=kind, error=message, dropped=row.dropped + c.dropped)
        problem = Problem(obj.key, error)
        return MailResult(obj, kind, row, sends=d.sends, told=d.told_count, problem=problem, stop=c.stop)

    def notified(self, obj: Listed, notice: Notice, row: MailOutcome) -> None:
        extra = {"key": obj.key, "size": obj.size, "recipients": len(notice.recipients), "sends": row.notices}
        log.info("notified", extra=extra)
        if self.m.tag_objects:
            self.tag(obj)

    def tag(self, obj: Listed) -> None:
        """Best effort: the state table, not the tag, is the source of truth."""
        when = datetime.fromtimestamp(self.m.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            s3io.tag(self.m.s3, s3io.ObjectRef(self.m.bucket, obj.key), {NOTIFIED_TAG: when})
        except StorageError as exc:
            log.warning("could not tag a notified object", extra={"key": obj.key, "error": exc.message})

    def settle(self, obj: Listed, state_id: str, reason: str) -> None:
        """Nobody to notify: say so once (this run's stats), then stop reading the mail each run."""
        try:
            self.state.settle(state_id, reason=reason, meta={"key": obj.key})
        except StateError as exc:  # only costs a read next run
            log.warning("could not record a settled mail", extra={"key": obj.key, "error": exc.message})

    def finish(self, out_of_time: Callable[[], bool]) -> None:
        self.writes.finish(out_of_time)

    def stats_mail(self, result: ScanResult, problems: Sequence[str]) -> StatsMail | None:
        return send_stats(self.m.ses, self.m.settings, result, problems)


class DryRun:
    """The sender that sends nothing: what would be notified, with no claim, send, tag or write."""

    def notify(
        self, obj: Listed, state_id: str, headers: MailHeaders, row: MailOutcome, who: Audience
    ) -> MailResult:
        notices = math.ceil(len(who.recipients) / MAX_RECIPIENTS)
        return MailResult(obj, "would-notify", replace(row, status="would-notify", notices=notices))

    def settle(self, obj: Listed, state_id: str, reason: str) -> None:
        return None

    def finish(self, out_of_time: Callable[[], bool]) -> None:
        return None

    def stats_mail(self, result: ScanResult, problems: Sequence[str]) -> StatsMail | None:
        return None


def send_stats(ses: Any, settings: Settings, result: ScanResult, problems: Sequence[str]) -> StatsMail:
    """Mail the run's counters to ``ADMIN_EMAIL``; never raises (the run's work is done)."""
    assert settings.admin_email and settings.notify_from
    email = compose_stats(
        result.stats.as_dict(),
        notify_from=settings.notify_from,
        admin_email=settings.admin_email,
        where=", ".join(f"s3://{result.bucket}/{p}" for p in result.prefixes),
        started=result.started,
        complete=result.complete,
        problems=list(problems),
        halted=result.halted,
        over_cap=result.over_cap,
        cap=settings.max_notice_recipients,
    )
    if not email.to:
        log.warning("ADMIN_EMAIL is not an address SES can send to; no stats mail")
        return StatsMail((), False, "ADMIN_EMAIL is not an address SES can send to")
    try:
        send_email(ses, email)
    except SesError as exc:
        log.warning("could not send the stats mail", extra={"reason": exc.reason, "error": exc.message})
        return StatsMail(tuple(email.to), False, f"{exc.reason}: {exc.message}")
    return StatsMail(tuple(email.to), True)
