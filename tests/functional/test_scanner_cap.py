"""The recipient cap (issue 20, finding 3): a mail's author picks its recipients, so a mail
naming more than MAX_NOTICE_RECIPIENTS is not notified at all; the admin's stats mail names
it (key and recipient count), and the log counts it without the addresses."""

from __future__ import annotations

import logging

import pytest

from vaultmail.scanner import Listed

from .test_scanner import BUCKET, RecordingSes, World, admin_mails, make_mail, world

__all__ = ["world"]  # the fixture, shared with test_scanner.py

MIB = 1 << 20
MANY = 20_000


def crowd(n: int) -> str:
    return ", ".join(f"u{i:05d}@acme.com" for i in range(n))


def test_a_mail_of_20000_recipients_makes_no_send_and_is_in_the_stats_mail(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    key = "mail/crowd.eml"
    world.put(key, make_mail(MIB, to=crowd(MANY)))  # a To field of 340,002 bytes (< 1 MiB header bound)
    settings = world.settings.with_overrides(max_notice_recipients=100, admin_email="admin@acme.com")
    ses = RecordingSes(world.ses)
    with caplog.at_level(logging.INFO, logger="vaultmail.scanner"):
        result = world.scanner(settings=settings, ses=ses).run()

    assert ses.notices() == []  # not one notice
    (stats_mail,) = admin_mails(ses)
    assert len(ses.sent) == 1  # the admin's mail is the only SES send
    assert (result.stats.over_cap, result.stats.notified, result.stats.failed) == (1, 0, 0)
    assert result.over_cap == [(key, MANY)]
    (row,) = result.outcomes
    assert row.status == "over-cap" and row.recipients == () and "20000 recipients" in (row.warning or "")
    text = stats_mail["Content"]["Simple"]["Body"]["Text"]["Data"]
    assert f"{key} (20,000 recipients)" in text and "MAX_NOTICE_RECIPIENTS (100)" in text
    assert "u00001@acme.com" not in caplog.text  # counted and logged, never listed
    assert any(getattr(r, "recipients", None) == MANY for r in caplog.records)

    again = world.scanner(settings=settings, ses=ses).run()  # settled: not read, not reported again
    assert (again.stats.over_cap, again.stats.settled, again.stats.bytes_read) == (0, 1, 0)
    assert ses.notices() == []


def test_a_mail_at_the_cap_is_notified_one_over_is_not(world: World) -> None:
    world.put("mail/at.eml", make_mail(300 * 1024, to=crowd(100)))
    world.put("mail/over.eml", make_mail(300 * 1024, to=crowd(101)))
    ses = RecordingSes(world.ses)
    result = world.scanner(settings=world.settings.with_overrides(max_notice_recipients=100), ses=ses).run()
    statuses = {o.key: o.status for o in result.outcomes}
    assert statuses == {"mail/at.eml": "notified", "mail/over.eml": "over-cap"}
    assert len(ses.notices()) == 2  # 100 recipients: two sends of 50
    assert result.over_cap == [("mail/over.eml", 101)]


def test_a_dry_run_reports_a_mail_over_the_cap(world: World) -> None:
    world.put("mail/over.eml", make_mail(300 * 1024, to=crowd(3)))
    ses = RecordingSes(world.ses)
    result = world.scanner(settings=world.settings.with_overrides(max_notice_recipients=2), ses=ses).run(
        dry_run=True
    )
    assert [o.status for o in result.outcomes] == ["over-cap"] and ses.sent == []


def test_a_mail_over_the_cap_that_arrives_is_reported_to_the_admin_at_once(world: World) -> None:
    """The arrival path settles the mail (no later sweep reports it), so it reports it itself."""
    key = "mail/arrived-crowd.eml"
    body = make_mail(300 * 1024, to=crowd(150))
    world.put(key, body)
    settings = world.settings.with_overrides(max_notice_recipients=100, admin_email="admin@acme.com")
    ses = RecordingSes(world.ses)
    head = world.s3.head_object(Bucket=BUCKET, Key=key)
    obj = Listed(key=key, size=len(body), etag=head["ETag"], last_modified=head["LastModified"].timestamp())
    result = world.scanner(settings=settings, ses=ses).notify_object(obj)
    assert result.over_cap == [(key, 150)] and ses.notices() == []
    (stats_mail,) = admin_mails(ses)
    assert f"{key} (150 recipients)" in stats_mail["Content"]["Simple"]["Body"]["Text"]["Data"]
    later = world.scanner(settings=settings, ses=ses).run(send_stats="news")  # settled: no news
    assert later.stats.over_cap == 0 and len(admin_mails(ses)) == 1


def test_an_arrival_under_the_cap_sends_no_stats_mail(world: World) -> None:
    key = "mail/arrived-few.eml"
    body = make_mail(300 * 1024, to=crowd(3))
    world.put(key, body)
    settings = world.settings.with_overrides(admin_email="admin@acme.com")
    ses = RecordingSes(world.ses)
    head = world.s3.head_object(Bucket=BUCKET, Key=key)
    obj = Listed(key=key, size=len(body), etag=head["ETag"], last_modified=head["LastModified"].timestamp())
    world.scanner(settings=settings, ses=ses).notify_object(obj)
    assert len(ses.notices()) == 1 and admin_mails(ses) == []
