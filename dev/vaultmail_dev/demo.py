"""``make demo``: the whole application, end to end, on local stand-ins, with a readable report.

Publishes mails in every SNS format, drops mails into the mail bucket (one over 10 MiB, one
over 50 MB, one with no primary-domain recipient, odd keys), lets the uploaders run from
the ``sam build`` output (fed by their SQS queues), notices the oversize mails on arrival (the
bucket's S3 events through the EventBridge rule to the scanner's queue), runs the backstop sweep
twice (it tells nobody again), then reads
back what landed in which vault (from the emulator's store in moto's S3), the rejections with
their reasons (object tags), the notices SES sent and the admin stats. Then an API outage of
two hours (SQS time runs ``TIME_SCALE`` times faster): mails wait in their queues, backing off,
and are archived once the API is back, with no replay. Exits 1 if anything did not happen.
"""

from __future__ import annotations

import base64
import html
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import demo_links
from .esm import Stats
from .mails import mail, write_big_mail
from .stack import LocalStack

TIME_SCALE = 600.0  # SQS time: 2 hours of outage last 12 s
OUTAGE_SECONDS = 2 * 3600
OUTAGE_MAILS = 20


@dataclass
class Expect:
    label: str
    how: str
    subject: str
    vaults: tuple[str, ...] = ()
    rejected: str | None = None  # expected rejection reason
    notified: bool = False
    seen: dict[str, Any] = field(default_factory=dict)


def publish_all(stack: LocalStack, work: Path) -> list[Expect]:
    """Send every kind of input the application accepts; return what should come of each."""
    sns, s3 = stack.client("sns"), stack.client("s3")
    topic, bucket = stack.topic(), stack.bucket()
    inbound = stack.payload_bucket()  # SNS messages may point here (PayloadBucketName)
    expects: list[Expect] = []

    def publish(label: str, message: str, subject: str, vaults: tuple[str, ...], **attrs: str) -> None:
        attributes = {k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()}
        sns.publish(TopicArn=topic, Message=message, MessageAttributes=attributes)
        expects.append(Expect(label, f"SNS {label}", subject, vaults))

    s = "Raw mail as the SNS message"
    publish("raw", mail(s).decode(), s, ("amit@acme.com", "ops@acme.com"))
    s = "JSON envelope with -r"
    publish(
        "envelope",
        json.dumps({"mail": mail(s, to="partner@elsewhere.net").decode(), "recipients": ["legal@acme.com"]}),
        s,
        ("amit@acme.com", "legal@acme.com"),
    )
    s = "Base64 envelope, Latin-1 subject caf\xe9"
    publish(
        "base64",
        json.dumps({"mailBase64": base64.b64encode(mail(s, to="Équipe <team@example.org>")).decode()}),
        s,
        ("amit@acme.com", "team@example.org"),
    )
    s = "Envelope pointing at S3"
    s3.put_object(Bucket=inbound, Key="pointed/one.eml", Body=mail(s, to="ops@acme.com"))
    publish(
        "envelope-s3",
        json.dumps({"s3": {"bucket": inbound, "key": "pointed/one.eml"}}),
        s,
        ("amit@acme.com", "ops@acme.com"),
    )
    s = "SES receipt, SNS action, Bcc only in the envelope"
    ses_note = {
        "notificationType": "Received",
        "mail": {"messageId": "ses-demo-1", "destination": ["ceo@acme.com"]},
        "receipt": {"recipients": ["ceo@acme.com"], "action": {"type": "SNS", "encoding": "BASE64"}},
        "content": base64.b64encode(mail(s, sender="vendor@supplier.io", to="sales@supplier.io")).decode(),
    }
    publish("ses-sns", json.dumps(ses_note), s, ("ceo@acme.com",))
    s = "SES receipt, S3 action"
    s3.put_object(
        Bucket=inbound, Key="ses/abcdef0123", Body=mail(s, sender="vendor@supplier.io", to="ap@acme.com")
    )
    ses_s3 = {
        "notificationType": "Received",
        "mail": {"messageId": "ses-demo-2"},
        "receipt": {
            "recipients": ["ap@acme.com"],
            "action": {"type": "S3", "bucketName": inbound, "objectKey": "ses/abcdef0123"},
        },
    }
    publish("ses-s3", json.dumps(ses_s3), s, ("ap@acme.com",))
    sns.publish(TopicArn=topic, Message=json.dumps({"notificationType": "AMAZON_SES_SETUP_NOTIFICATION"}))
    s = "Large mail through the SNS extended client"
    publish_extended(stack, inbound, mail(s, attachment_bytes=400_000), s)
    expects.append(Expect("extended", "SNS extended client", s, ("amit@acme.com", "ops@acme.com")))

    def drop(
        label: str,
        key: str,
        data: bytes | Path,
        subject: str,
        vaults: tuple[str, ...] = (),
        rejected: str | None = None,
        notified: bool = False,
    ) -> None:
        if isinstance(data, Path):
            s3.upload_file(str(data), bucket, key)
        else:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        expects.append(Expect(label, f"S3 {key}", subject, vaults, rejected, notified))

    s = "Dropped into the bucket"
    drop(
        "s3",
        "inbox/2026/dropped.eml",
        mail(s, cc="Doe, John <john@example.org>"),
        s,
        ("amit@acme.com", "john@example.org", "ops@acme.com"),
    )
    s = "Key with spaces, plus and unicode"
    drop("s3-odd-key", "inbox/Weekly report + été.eml", mail(s), s, ("amit@acme.com", "ops@acme.com"))
    s = "No primary-domain recipient"
    drop(
        "s3-nobody",
        "inbox/stranger.eml",
        mail(s, sender="x@other.net", to="y@other.net"),
        s,
        rejected="NoPrimaryDomainRecipient",
    )
    s = "Twelve MiB: SES never sent it"
    drop(
        "s3-12mib",
        "outbound/big-12mib.eml",
        write_big_mail(work / "12.eml", 12 * 1024 * 1024, subject=s, to="Client <client@partner.net>"),
        s,
        ("amit@acme.com",),
        notified=True,
    )
    s = "Over 50 MB: refused before any request"
    drop(
        "s3-51mb",
        "outbound/huge-51mb.eml",
        write_big_mail(work / "51.eml", 51 * 1024 * 1024, subject=s, to="ops@acme.com"),
        s,
        rejected="MailTooLarge",
        notified=True,
    )
    s3.put_object(Bucket=bucket, Key="inbox/folder/", Body=b"")  # a folder marker: skipped
    return expects


def publish_extended(stack: LocalStack, bucket: str, data: bytes, subject: str) -> None:
    """Publish with the real amazon-sns-extended-client library (payload offloaded to S3)."""
    from sns_extended_client import SNSExtendedClientSession

    # A session of the library's own class (importing it swaps boto3's Session class, which
    # a default session made earlier does not have), with the stack's credentials.
    session = SNSExtendedClientSession(
        region_name="us-east-1",
        aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=stack.env.get("AWS_SESSION_TOKEN"),
    )
    sns: Any = session.client("sns", endpoint_url=stack.moto.url)
    sns.large_payload_support = bucket
    sns.always_through_s3 = True
    sns.use_legacy_attribute = False
    sns.s3_client = session.client("s3", endpoint_url=stack.moto.url)
    sns.publish(TopicArn=stack.topic(), Message=data.decode())


def report(
    stack: LocalStack, expects: list[Expect], scan: Any, arrived: list[dict[str, Any]] | None = None
) -> int:
    """Print what came of each input; 0 if all is as expected. ``arrived``: the notices SES had
    sent before any sweep ran (the arrival path's), when the demo ran one after the arrivals."""
    s3 = stack.client("s3")
    records = stack.emulator.records()
    by_subject: dict[str, Any] = {}
    for rec in records:
        by_subject.setdefault(rec_subject(stack, rec), rec)
    problems: list[str] = []
    print("\n=== Archived mails (read back from the Active Store emulator) ===")
    for ex in expects:
        if ex.rejected:
            continue
        found = by_subject.get(ex.subject)
        if found is None:
            problems.append(f"{ex.label}: not archived")
            print(f"  MISSING  {ex.label:<12} {ex.how}")
            continue
        rec = found
        vaults = tuple(sorted(rec["vaults"]))
        ok = vaults == tuple(sorted(ex.vaults)) and rec["stores"] == 1
        if not ok:
            problems.append(f"{ex.label}: vaults {vaults} stored {rec['stores']}x, expected {ex.vaults} once")
        print(
            f"  {'ok' if ok else 'WRONG':<8} {ex.label:<12} {ex.how:<34} -> {', '.join(vaults)}"
            f"  ({rec['size']} bytes, stored {rec['stores']}x)"
        )
    print("\n=== Rejected (permanent, not retried; recorded as object tags) ===")
    for ex in expects:
        if not ex.rejected:
            continue
        key = ex.how.removeprefix("S3 ")
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=stack.bucket(), Key=key)["TagSet"]}
        ok = tags.get("vaultmail-status") == "rejected" and tags.get("vaultmail-reason") == ex.rejected
        if not ok:
            problems.append(f"{ex.label}: tags {tags}, expected rejection {ex.rejected}")
        print(
            f"  {'ok' if ok else 'WRONG':<8} {ex.label:<12} {key:<34} reason={tags.get('vaultmail-reason')}"
        )
    print("\n=== Oversize mails: notices sent with SES ===")
    print("  (apart from archiving: a mail over 50 MB is rejected above; its recipients still get a link)")
    told_on_arrival = {m["subject"] for m in arrived or []}
    sent = stack.sent_emails()
    admin = stack.parameters["AdminEmail"]
    notices = [m for m in sent if admin not in json.dumps(m["destinations"])]
    for ex in expects:
        if not ex.notified:
            continue
        match = [m for m in notices if ex.subject in m["subject"]]
        if len(match) != 1:
            problems.append(f"{ex.label}: {len(match)} notices, expected 1")
            print(f"  MISSING  {ex.label}")
            continue
        notice = match[0]
        link = re.search(r'href="(https?://[^"]+)"', notice["body"])
        fetched = stack.fetch(html.unescape(link.group(1))) if link else None
        ok = fetched is not None and fetched.status_code == 200
        if not ok:
            problems.append(f"{ex.label}: the link in the notice did not download")
        to = ", ".join(a for field in notice["destinations"].values() for a in field)
        size = len(fetched.content) if fetched is not None else 0
        path = (
            "on arrival (S3 -> EventBridge rule -> queue)"
            if notice["subject"] in told_on_arrival
            else "by a sweep"
        )
        if arrived is not None and notice["subject"] not in told_on_arrival:
            problems.append(f"{ex.label}: told by the sweep, not on arrival")
            ok = False
        print(f"  {'ok' if ok else 'WRONG':<8} {ex.label:<12} to {to}; link downloads {size} bytes")
        print(f"{'':<23} subject: {notice['subject']}")
        print(f"{'':<23} told {path}")
    problems += demo_links.show(stack, notices)
    stats_mails = [m for m in sent if admin in json.dumps(m["destinations"])]
    # a scheduled sweep mails the admin only when it has news (ScanResult.newsworthy): none when
    # every notice went out on arrival
    news = isinstance(scan, dict) and any(
        scan.get(k)
        for k in ("notified", "failed", "deferred", "noRecipients", "unreadable", "stoppedSending", "halted")
    )
    print(
        f"  admin stats mails to {admin}: {len(stats_mails)}" + ("" if news else " (the sweep had no news)")
    )
    if news and not stats_mails:
        problems.append("no stats mail reached the admin")
    if not news and stats_mails:
        problems.append("the admin was mailed the stats of a sweep with no news")
    print("\n=== Scanner stats (also sent to the admin when ADMIN_EMAIL is set) ===")
    print("  " + json.dumps(scan, default=str))
    for kind in ("sns_uploader", "s3_uploader"):
        dead = stack.dlq_records(kind)
        if dead:
            problems.append(f"{kind}: {len(dead)} events in the dead-letter queue")
    print()
    if problems:
        print("DEMO FAILED:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(
        f"DEMO OK: {len(expects)} inputs, {len(records)} mails archived once each, "
        "rejections recorded, oversize mails notified once."
    )
    return 0


def rec_subject(stack: LocalStack, rec: dict[str, Any]) -> str:
    """The Subject of an archived mail, read from its header block in the emulator's bucket."""
    from email import policy
    from email.parser import BytesHeaderParser

    s3 = stack.client("s3")
    key = rec["keys"][0]
    head = s3.get_object(Bucket=stack.emulator.bucket, Key=key, Range="bytes=0-16383")["Body"].read()
    return str(BytesHeaderParser(policy=policy.default).parsebytes(head).get("subject", ""))


def outage(stack: LocalStack) -> list[str]:
    """Two hours of 503s: mails wait in their queues (backing off) and are archived once the API
    is back, each once, with no replay. Returns the problems found."""
    sns, s3 = stack.client("sns"), stack.client("s3")
    before = {r["sha256"] for r in stack.emulator.records()}
    stack.emulator.add_faults([{"target": "uploads", "status": 503, "times": 10**6}])
    for i in range(OUTAGE_MAILS // 2):
        sns.publish(TopicArn=stack.topic(), Message=mail(f"Sent during the outage {i}").decode())
        s3.put_object(
            Bucket=stack.bucket(), Key=f"outage/{i}.eml", Body=mail(f"Dropped during the outage {i}")
        )
    real_seconds = OUTAGE_SECONDS / stack.time_scale
    print(f"\n=== API outage: 503 for {OUTAGE_SECONDS // 3600} h of SQS time ({real_seconds:.0f} s here) ===")
    time.sleep(real_seconds)
    tried = stack.emulator.hits["uploads"]
    waiting = stack.waiting()
    print(f"  {waiting} mails waiting in their queues; the API was asked {tried} times in all")
    stack.emulator.clear_faults()
    print("  API back: no replay, no human step")
    stats = stack.pump(max_seconds=120)
    new = [r for r in stack.emulator.records() if r["sha256"] not in before]
    twice = [r for r in new if r["stores"] != 1]
    print(
        f"  archived after the outage: {len(new)} mails, {len(twice)} stored more than once\n"
        f"  since the start: {describe(stats)}"
    )
    problems = []
    if len(new) != OUTAGE_MAILS or twice:
        problems.append(f"outage: {len(new)} of {OUTAGE_MAILS} archived, {len(twice)} twice")
    for kind in ("sns_uploader", "s3_uploader"):
        if stack.dlq_records(kind):
            problems.append(f"outage: {kind} dead-lettered mails")
    return problems


def main() -> int:
    started = time.monotonic()
    print("vaultmail demo: building the stack (sam build on Python 3.13) and starting moto + the emulator...")
    with tempfile.TemporaryDirectory() as tmp, LocalStack(time_scale=TIME_SCALE) as stack:
        print(f"  moto at {stack.moto.url}, Active Store emulator at {stack.emulator.url}")
        build = stack.build
        where = (
            "the SOURCE TREE" if build is None or build.from_source else f"{build.directory} ({build.python})"
        )
        print(f"  functions from {where}")
        if stack.enforce_iam:
            print("  each function runs with its template role's credentials; moto checks IAM")
        expects = publish_all(stack, Path(tmp))
        stats = stack.pump()
        print(f"  the queues delivered: {describe(stats)}")
        arrived = stack.sent_emails()  # before any sweep: the arrival path's notices
        rule = stack.names.get("OversizeMailRule", "")
        print(
            f"  S3 sent {len(stack.bridge.events)} Object Created events to EventBridge; {rule} matched "
            f"{stack.bridge.matched[rule]} (oversize), queued for the scanner: {len(arrived)} notices sent"
        )
        scan = stack.run_scanner()
        again = stack.run_scanner()
        print(
            f"  backstop sweep afterwards notified {count_notified(scan)} (the arrivals' claims hold); "
            f"a second sweep notified {count_notified(again)}"
        )
        code = report(stack, expects, scan, arrived)
        if count_notified(scan) or count_notified(again):
            print("  - a sweep after the arrivals told someone again")
            code = 1
        problems = outage(stack)
        for problem in problems:
            print(f"  - {problem}")
        code = code or (1 if problems else 0)
        if not problems:
            print(
                "OUTAGE OK: every mail archived once after the API came back, none dead-lettered, no replay."
            )
    print(f"(each function's log: {stack.workdir}/<function>.log; {time.monotonic() - started:.0f} s)")
    return code


def describe(stats: dict[str, Stats]) -> str:
    """What the event sources did, from their counts."""
    invocations = sum(s.invocations for s in stats.values())
    messages = sum(s.messages for s in stats.values())
    deleted = sum(s.deleted for s in stats.values())
    returned = sum(s.returned for s in stats.values())
    peak = max((s.peak_running for s in stats.values()), default=0)
    return (
        f"{messages} messages in {invocations} batch invocations ({deleted} done: archived, rejected or "
        f"skipped; {returned} returned to their queue to wait), at most {peak} at once per function"
    )


def count_notified(result: Any) -> Any:
    if isinstance(result, dict):
        return result.get("notified", result)
    return result


if __name__ == "__main__":
    sys.exit(main())
