"""``vaultmail backfill --stack NAME``: archive existing mails with an S3 Batch Operations job.

    vaultmail backfill --stack NAME [--bucket B] [--prefix P]... [--suffix S]...
                       [--created-before DATE] [--created-after DATE]
                       [--manifest s3://BUCKET/KEY[,ETAG]] [-r ID,ID] [-s ID] [--report-all] [--dry-run]

The role, the function and the reports bucket come from the stack's outputs. Prints the
job id and the commands that follow it; ``--dry-run`` prints the CreateJob request instead.
Exit codes: 0 job created (or planned), 1 AWS refused the job, 3 bad arguments or stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..errors import EXIT_OK, ConfigurationError, InvalidArguments

if TYPE_CHECKING:
    from ..backfill import Spec, Targets


def _when(text: str) -> datetime:
    """An ISO 8601 date or time; a time without a zone is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "backfill",
        help="archive a bucket of existing mails (an S3 Batch Operations job through the S3 uploader)",
        description="Create an S3 Batch Operations job that invokes the stack's S3 uploader for each "
        "object of the mail bucket (or of --bucket), listed by S3 with the filters given, or for each "
        "object of an existing manifest. The completion report goes to the stack's reports bucket "
        "(output BatchReportsBucketName), which the S3 uploader never sees. "
        "Exit codes: 0 job created (or planned), 1 AWS refused the job, 3 bad arguments or stack.",
    )
    p.add_argument("--stack", required=True, help="the deployed vaultmail stack (CloudFormation name)")
    p.add_argument("--region", help="the stack's region (default: AWS_REGION / the AWS CLI's configuration)")
    p.add_argument(
        "--bucket",
        help="bucket to archive (default: the stack's mail bucket; another one must be the stack's "
        "ExternalMailBucketName, which the uploader may read)",
    )
    p.add_argument("--prefix", action="append", default=[], metavar="PREFIX", help="key prefix; repeatable")
    p.add_argument("--suffix", action="append", default=[], metavar="SUFFIX", help="key suffix; repeatable")
    p.add_argument("--created-before", type=_when, metavar="DATE", help="only objects created before (UTC)")
    p.add_argument("--created-after", type=_when, metavar="DATE", help="only objects created after (UTC)")
    p.add_argument(
        "--manifest",
        metavar="s3://BUCKET/KEY[,ETAG]",
        help="an existing manifest instead of S3's listing: a CSV of Bucket,Key or an S3 Inventory "
        "manifest.json (the ETag is read with HeadObject when left out)",
    )
    p.add_argument(
        "--manifest-versions", action="store_true", help="the CSV manifest's rows are Bucket,Key,VersionId"
    )
    p.add_argument(
        "-r",
        dest="recipients",
        action="append",
        default=[],
        metavar="ID,ID",
        help="vaults added to every mail's, as upload's -r (the job's user arguments)",
    )
    p.add_argument("-s", dest="sender", metavar="ID", help="the sender vault of every mail, as upload's -s")
    p.add_argument("--report-all", action="store_true", help="report every task, not only the failed ones")
    p.add_argument("--priority", type=int, default=10, help="job priority (default 10)")
    p.add_argument(
        "--confirm", action="store_true", help="create the job suspended, to be confirmed before it runs"
    )
    p.add_argument(
        "--oversize",
        action="store_true",
        help="notify the recipients of existing oversize mails instead: the job invokes the stack's "
        "oversize scanner for each object at or over its threshold (output SizeThresholdBytes; S3's "
        "manifest generator filters by size), with the same claims as the scan (nobody told twice)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the CreateJob request; create nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import boto3

    from .. import backfill

    session = boto3.session.Session(region_name=args.region)
    if not session.region_name:
        raise ConfigurationError("no AWS region: give --region or set AWS_REGION (the stack's region)")
    spec = _spec(args)
    backfill.check(spec)  # a bad combination is refused before any request
    outputs = backfill.stack_outputs(session.client("cloudformation"), args.stack)
    if args.oversize:
        # the scanner answers PermanentFailure for a bucket it does not scan: its own by default
        bucket = spec.bucket or outputs.get(backfill.OUTPUT_SCANNED_BUCKET) or None
        spec = replace(spec, bucket=bucket, size_over=backfill.oversize_floor(outputs, stack=args.stack))
        where = backfill.targets(outputs, stack=args.stack, function_output=backfill.OUTPUT_SCANNER)
    else:
        where = backfill.targets(outputs, stack=args.stack)
    if spec.manifest is not None and spec.manifest.etag is None:
        spec = replace(spec, manifest=backfill.with_etag(session.client("s3"), spec.manifest))
    request = backfill.plan(spec, where)
    if args.dry_run:
        print(json.dumps(request, indent=2, default=_json_default))
        print("dry run: no job created", file=sys.stderr)
        return EXIT_OK
    job_id = backfill.create_job(session.client("s3control"), request)
    _follow(args, where, job_id, session.region_name)
    return EXIT_OK


def _spec(args: argparse.Namespace) -> Spec:
    """The job's spec from the command line (refusing flags that do not go together)."""
    from .. import backfill

    manifest = None
    if args.manifest:
        manifest = backfill.parse_manifest(args.manifest, with_versions=args.manifest_versions)
    elif args.manifest_versions:
        raise InvalidArguments("--manifest-versions goes with --manifest")
    spec = backfill.Spec(
        bucket=args.bucket,
        prefixes=tuple(args.prefix),
        suffixes=tuple(args.suffix),
        created_before=args.created_before,
        created_after=args.created_after,
        manifest=manifest,
        all_tasks_report=args.report_all,
        priority=args.priority,
        confirmation_required=args.confirm,
        recipients=tuple(r.strip() for value in args.recipients for r in value.split(",") if r.strip()),
        sender=args.sender,
    )
    if args.oversize and (manifest is not None or spec.recipients or spec.sender):
        raise InvalidArguments("--oversize lists by size and notifies: no --manifest, -r or -s with it")
    return spec


def _follow(args: argparse.Namespace, where: Targets, job_id: str, region: str) -> None:
    from .. import backfill

    print(f"created S3 Batch Operations job {job_id}")
    if args.confirm:
        print(
            f"confirm it to run: aws s3control update-job-status --account-id {where.account} "
            f"--job-id {job_id} --requested-job-status Ready"
        )
    print("follow it:")
    for command in backfill.follow_commands(where.account, job_id, where.reports_bucket, region):
        print(f"  {command}")


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
