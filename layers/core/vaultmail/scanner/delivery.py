"""Sending one mail's notice: claim, split sends, and the conclusion (see :mod:`.conclusions`).

claim -> for each send of at most 50 recipients: write ahead (``pending``), send (a send SES
rejects is split in halves, within ``split_sends`` extra sends, so that one address SES
refuses does not hold back the others), record who was told (``sent``) -> the addresses
SES rejected alone in earlier runs (``rejectedAlone``), if the budget reached everyone else:
each alone, within what is left of it -> one last write that ends the claim (``notified``,
``failed`` or ``settled``), made by :class:`~.conclusions.Conclusions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from ..errors import StateError, StorageError
from ..headers import MailHeaders
from ..notices import Email, Notice, compose_notice, halves, safe_filename
from ..ses import SesError, send_email
from ..state import NOTIFIED, SETTLED
from .claims import Claims, Delivery
from .conclusions import Conclusions
from .links import MadeLink
from .plan import Listed
from .run import Run
from .stats import MailOutcome


class Sender:
    """Claims a mail, sends its notice, and hands the outcome to the conclusions."""

    def __init__(self, run: Run, claims: Claims) -> None:
        self.run = run
        self.sc = run.sc
        self.stats = run.stats
        self.claims = claims
        self.conclusions = Conclusions(run, claims)

    def send(self, obj: Listed, state_id: str, headers: MailHeaders, outcome: MailOutcome) -> None:
        sc = self.sc
        assert sc.state is not None
        try:
            claim = sc.state.claim(
                state_id,
                owner=self.run.owner,
                lease_seconds=sc.lease_seconds,
                meta={"bucket": sc.bucket, "key": obj.key, "etag": obj.etag.strip('"')},
            )
        except StateError as exc:  # the table is failing: stop, and resume with this mail next run
            self.run.halt(obj.key, exc)
            return
        if claim is None:
            self.count_taken(obj, state_id)
            return
        delivery = Delivery(claim, split_left=sc.split_sends)
        filename = safe_filename(headers.subject, obj.key)
        try:
            link = self.make_link(obj, delivery, filename, outcome)
            if link is None:
                return
            notice = self.deliver(obj, headers, delivery, outcome, link, filename)
        except BaseException as exc:  # give the mail back at once rather than at lease expiry
            self.claims.release(delivery, f"interrupted: {type(exc).__name__}")
            raise
        self.conclusions.conclude(obj, delivery, notice, outcome)

    def count_taken(self, obj: Listed, state_id: str) -> None:
        """The claim was refused: another run has the mail, or has just finished it."""
        assert self.sc.state is not None
        try:
            record = self.sc.state.get(state_id)
        except StateError:
            record = None
        if record is not None and record.status == NOTIFIED:
            self.stats.already_notified += 1
        elif record is not None and record.status == SETTLED:
            self.stats.settled += 1
        else:
            self.stats.in_progress += 1
            self.run.keep_open(obj)

    def make_link(self, obj: Listed, d: Delivery, filename: str, outcome: MailOutcome) -> MadeLink | None:
        """This notice's link (one per notice); None: not made now (claim released, mail failed)."""
        told = {a.lower() for a in d.claim.sent}
        try:
            return self.sc.link_maker().make(
                self.sc.bucket,
                obj.key,
                obj.etag,
                filename=filename,
                recipients=tuple(r for r in outcome.recipients if r.lower() not in told),
                now=self.sc.clock(),
            )
        except (StateError, StorageError) as exc:  # the next run tries again
            self.claims.release(d, f"{exc.reason}: the download link was not made")
            self.conclusions.fail(obj, outcome, exc, "no download link")
            return None

    def deliver(
        self,
        obj: Listed,
        headers: MailHeaders,
        d: Delivery,
        outcome: MailOutcome,
        link: MadeLink,
        filename: str,
    ) -> Notice:
        """Sign, compose and send the notice (writing ahead and recording each send).

        Stops at the first error that ends the sending (``d.error``); recipients SES rejects
        alone are collected in ``d.rejected``, those the split budget did not reach in
        ``d.untried``, and the other sends go on. The recipients SES rejected alone in an
        earlier run are sent to last, each alone, and only if the budget reached everyone
        else: no budget is spent on them while others wait.
        """
        sc = self.sc
        assert sc.settings.notify_from
        notice = compose_notice(
            headers,
            notify_from=sc.settings.notify_from,
            link=link.url,
            expires_at=datetime.fromtimestamp(link.expires_at, UTC),
            size=obj.size,
            threshold=sc.settings.size_threshold_bytes,
            filename=filename,
            allowed_domains=sc.settings.allowed_recipient_domains,
            already_sent=d.claim.sent,
            apart=d.claim.rejected_alone,
        )
        for email in notice.emails:
            if not (self.begin_send(d, email.recipients) and self.send_part(d, email, outcome)):
                return notice
        if d.untried:  # the budget ran out: the addresses rejected before wait as well
            return notice
        retry = notice.alone[: d.split_left]
        d.split_left -= len(retry)
        if retry and self.begin_send(d, [a for email in retry for a in email.recipients]):
            for email in retry:
                if not self.send_part(d, email, outcome):
                    break
        return notice

    def begin_send(self, d: Delivery, addresses: Sequence[str]) -> bool:
        state = self.claims.state
        try:
            self.claims.persist(lambda: state.begin_send(d.claim, addresses))
        except StateError as exc:  # nothing sent: the claim ends (released) without it
            d.error = exc
            return False
        return True

    def send_part(self, d: Delivery, email: Email, outcome: MailOutcome) -> bool:
        """Send ``email`` (split in halves while SES rejects it); False: stop this mail.

        Only a send to one recipient that SES rejects makes an address rejected
        (``d.rejected``); the recipients of a rejected send the split budget cannot halve
        any more are not tried alone in this run (``d.untried``), whoever SES refuses there.
        """
        state = self.claims.state
        try:
            send_email(self.sc.ses, email)
        except SesError as exc:
            if exc.stop_run:
                d.error = exc
                return False
            if len(email.recipients) == 1:
                d.rejected[email.recipients[0]] = exc.message
            elif d.split_left >= 2:
                d.split_left -= 2
                return all(self.send_part(d, part, outcome) for part in halves(email))
            else:
                d.untried.update(dict.fromkeys(email.recipients, exc.message))
            return True
        self.stats.notices_sent += 1
        self.stats.recipients_notified += len(email.recipients)
        outcome.notices += 1
        d.told.extend(email.recipients)
        d.unrecorded = list(email.recipients)  # until recorded (also for an exception raised here)
        try:
            d.claim = self.claims.persist(lambda: state.record_sent(d.claim, email.recipients))
        except StateError as exc:  # told but not recorded: send no more for this mail
            d.error = exc
            return False
        d.unrecorded = []
        return True
