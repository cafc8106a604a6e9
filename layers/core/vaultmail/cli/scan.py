"""``vaultmail scan``: the oversize scan from a shell, with SES Woomera's flags.

    vaultmail scan --bucket B [--prefix P]... [--threshold-mb N] [--dry-run] [--json]
                   [-r REGION] [-e PROCESSED_EMAILS_KEY] [-a ADMIN_EMAIL]

Other settings come from the environment (NOTIFY_FROM, STATE_TABLE, LINK_EXPIRY_SECONDS,
LINK_BASE_URL, SIGNING_SECRET_ARN, ALLOWED_RECIPIENT_DOMAINS, ...); flags override them. Exit codes:
0 ok, 1 unexpected error, 3 bad arguments or configuration, 5 a notice failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EXIT_OK, EXIT_UNKNOWN, EXIT_UPLOAD_FAILED, ConfigurationError, InvalidArguments
from ..notices import human_size
from ..scanner import MailOutcome, Scanner, ScanResult, import_woomera, load_woomera
from ..settings import Settings

MIB = 1 << 20


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "scan",
        help="notify the recipients of mails over the size limit (SES Woomera's job)",
        description="List the mail bucket, find mails at or over the size threshold, and send each "
        "mail's intended recipients one notice with a download link (once, ever). Settings not given "
        "as flags come from the environment (NOTIFY_FROM, STATE_TABLE, LINK_EXPIRY_SECONDS, "
        "LINK_BASE_URL, SIGNING_SECRET_ARN, ALLOWED_RECIPIENT_DOMAINS, SCAN_SUFFIXES, ...). "
        "Exit codes: 0 ok, 1 unexpected error, 3 bad arguments or configuration, 5 a notice failed.",
    )
    p.add_argument("-b", "--bucket", help="the mail bucket (default: MAIL_BUCKET)")
    p.add_argument(
        "-p",
        "--prefix",
        action="append",
        dest="prefixes",
        metavar="PREFIX",
        help="key prefix to scan; repeat for several (default: SCAN_PREFIXES, else the whole bucket)",
    )
    p.add_argument(
        "--threshold-mb",
        type=float,
        metavar="N",
        help="size threshold in MB of 1,048,576 bytes (default: SIZE_THRESHOLD_BYTES, else 10)",
    )
    p.add_argument(
        "--suffix",
        action="append",
        dest="suffixes",
        metavar="SUFFIX",
        help="key suffix of mail objects; repeat for several (default: SCAN_SUFFIXES, else .eml)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="show what would be notified; send and record nothing"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    p.add_argument("-r", "--region", help="AWS region (default: the standard AWS configuration)")
    _woomera_flags(p)
    p.set_defaults(func=run)


def _woomera_flags(p: argparse.ArgumentParser) -> None:
    """SES Woomera's flags (and where its users kept settings), so that its users can switch."""
    p.add_argument(
        "-e",
        "--processedEmails",
        dest="processed_emails",
        metavar="KEY",
        help="key of an SES Woomera processedEmails.json in the bucket: mark those mails notified first",
    )
    p.add_argument("-a", "--adminEmail", dest="admin_email", help="send run statistics here (ADMIN_EMAIL)")
    p.add_argument(
        "--notify-from", dest="notify_from", help="verified SES sender of the notices (NOTIFY_FROM)"
    )
    p.add_argument("--state-table", dest="state_table", help="DynamoDB state table (STATE_TABLE)")
    p.add_argument(
        "-k",
        "--accessKey",
        dest="access_key",
        help="AWS access key id (discouraged: use the credential chain)",
    )
    p.add_argument(
        "-s",
        "--secretKey",
        dest="secret_key",
        help="AWS secret access key (discouraged: use the credential chain)",
    )


# flag -> the setting it overrides (a value given on the command line wins over the environment)
OVERRIDES = {
    "bucket": "mail_bucket",
    "admin_email": "admin_email",
    "notify_from": "notify_from",
    "state_table": "state_table",
}
REQUIRED_NAMES = {
    "mail_bucket": "--bucket or MAIL_BUCKET",
    "notify_from": "--notify-from or NOTIFY_FROM",
    "state_table": "--state-table or STATE_TABLE",
}


def settings_from(args: argparse.Namespace, env: Settings | None = None) -> Settings:
    """The environment's settings with the command line's overrides."""
    settings = env or Settings.from_env()
    changes = _changes(args)
    settings = settings.with_overrides(**changes) if changes else settings
    required = ["mail_bucket"] if args.dry_run else ["mail_bucket", "notify_from", "state_table"]
    missing = [n for n in required if not getattr(settings, n)]
    if missing:
        raise ConfigurationError("missing setting(s): " + ", ".join(REQUIRED_NAMES[n] for n in missing))
    return settings


def _changes(args: argparse.Namespace) -> dict[str, object]:
    changes: dict[str, object] = {
        setting: getattr(args, flag) for flag, setting in OVERRIDES.items() if getattr(args, flag)
    }
    if args.prefixes:
        changes["scan_prefixes"] = tuple(dict.fromkeys(args.prefixes))
    if args.suffixes:
        changes["scan_suffixes"] = tuple(s for s in args.suffixes if s)
    if args.threshold_mb is not None:
        if args.threshold_mb <= 0:
            raise InvalidArguments("--threshold-mb must be more than 0")
        changes["size_threshold_bytes"] = max(1, round(args.threshold_mb * MIB))
    return changes


def sessions_from(args: argparse.Namespace) -> tuple[Any, Any]:
    """The boto3 session for SES and the state table, and the one for the bucket.

    Woomera's ``-k``/``-s`` were an S3 key pair ("still relying on the IAM role to connect to
    SES"): they reach S3 (reading, tagging, signing the links) and nothing else.
    """
    import boto3

    session = boto3.session.Session(region_name=args.region)
    if not (args.access_key or args.secret_key):
        return session, session
    print(
        "vaultmail: warning: -k/--accessKey and -s/--secretKey put a secret on the command line; "
        "prefer the standard AWS credential chain (AWS_PROFILE, environment, SSO, instance role)",
        file=sys.stderr,
    )
    if not (args.access_key and args.secret_key):
        raise InvalidArguments("-k/--accessKey and -s/--secretKey go together")
    s3_session = boto3.session.Session(
        aws_access_key_id=args.access_key, aws_secret_access_key=args.secret_key, region_name=args.region
    )
    return session, s3_session


COLUMNS = ("status", "size", "sends", "recipients", "key", "subject")


def _row(outcome: MailOutcome) -> tuple[str, ...]:
    recipients = ", ".join(outcome.recipients[:3]) + (
        f" (+{len(outcome.recipients) - 3})" if len(outcome.recipients) > 3 else ""
    )
    return (
        outcome.status,
        human_size(outcome.size),
        str(outcome.notices),
        recipients or "-",
        outcome.key,
        (outcome.subject or outcome.error or "")[:60],
    )


def _table(outcomes: list[MailOutcome]) -> str:
    rows = [COLUMNS, *(_row(o) for o in outcomes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])) + "  " + r[-1] for r in rows
    )


def _summary(result: ScanResult, dry_run: bool) -> str:
    s = result.stats
    head = "dry run: " if dry_run else ""
    would = sum(1 for o in result.outcomes if o.status == "would-notify")
    done = f"{would} would be notified" if dry_run else f"{s.notified} notified"
    text = (
        f"{head}{s.scanned} objects, {s.oversize} oversize ({human_size(s.oversize_bytes)}): {done}, "
        f"{s.already_notified} already notified, {s.in_progress} in progress, {s.failed} failed"
        + (f" ({s.gave_up} given up)" if s.gave_up else "")
        + ", "
        f"{s.no_recipients} without recipients, {s.unreadable} unreadable, "
        f"{s.settled} settled before, {s.cold} in archive storage"
        + (f", {s.seen_before} decided by an earlier sweep" if s.seen_before else "")
        + (f", {s.over_cap} over MAX_NOTICE_RECIPIENTS (not notified)" if s.over_cap else "")
        + "; "
        f"{s.bytes_read:,} bytes read"
    )
    if result.halted:
        text += f"; stopped early: {result.halted} (the next run resumes)"
    elif not result.complete:
        text += "; stopped early (the next run resumes)"
    if result.stopped_sending:
        text += f"; stopped sending: {result.stopped_sending}"
    return text


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import NoRegionError

    session, s3_session = sessions_from(args)
    settings = settings_from(args)
    try:
        scanner = Scanner.from_settings(settings, session=session, s3_session=s3_session)
    except NoRegionError:
        raise ConfigurationError(
            "no AWS region: give -r/--region, set AWS_DEFAULT_REGION, or configure one (aws configure)"
        ) from None
    assume: frozenset[str] = frozenset()
    if args.processed_emails:
        entries = load_woomera(scanner.s3, scanner.bucket, args.processed_emails)
        dry = args.dry_run or scanner.state is None
        imported = import_woomera(scanner.s3, scanner.state, scanner.bucket, entries, dry_run=dry)
        if dry:  # nothing written: the run treats the listed mails as notified
            assume = frozenset(entries)
        print(
            f"vaultmail: {'dry run: ' if dry else ''}Woomera import: {imported.entries} entries, "
            f"{imported.imported} {'would be imported' if dry else 'imported'}, "
            f"{imported.existing} already known, {imported.missing} objects gone",
            file=sys.stderr,
        )

    shown: list[MailOutcome] = []

    def on_outcome(outcome: MailOutcome) -> None:
        if outcome.warning:  # on stderr in both forms; in --json also the line's "warning"
            print(f"vaultmail: warning: {outcome.key}: {outcome.warning}", file=sys.stderr)
        if args.json:
            print(json.dumps(outcome.as_dict(), ensure_ascii=False), flush=True)
        else:
            shown.append(outcome)

    result = scanner.run(dry_run=args.dry_run, assume_notified=assume, on_outcome=on_outcome)
    if not args.json:
        if shown:
            print(_table(shown))
        elif args.dry_run:
            print("nothing to notify")
    else:
        print(json.dumps({"summary": result.as_dict(), "dryRun": bool(args.dry_run)}), flush=True)
    print(f"vaultmail: {_summary(result, args.dry_run)}", file=sys.stderr)
    mail = result.stats_mail
    if mail is not None:
        print(
            f"vaultmail: stats mail sent to {', '.join(mail.to)}"
            if mail.sent
            else f"vaultmail: warning: the stats mail was not sent: {mail.error}",
            file=sys.stderr,
        )
    sys.stdout.flush()
    if result.halted:  # the state table failed mid-run (as before, when it raised: exit 1)
        return EXIT_UNKNOWN
    return EXIT_UPLOAD_FAILED if result.any_failed else EXIT_OK
