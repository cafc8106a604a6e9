"""Backfill: archive a bucket of existing mails with an S3 Batch Operations job.

Plan (pure), then execute (the S3 Control, CloudFormation and S3 clients are arguments).
The job invokes the S3 uploader once per object ("Invoke AWS Lambda function", invocation
schema 2.0), which answers Succeeded / TemporaryFailure / PermanentFailure per task; S3's
own engine does the listing, the retries of temporary failures and the completion report.

What the job runs on comes from the stack's outputs: the role (``BatchOperationsRoleArn``),
the function (``S3UploaderFunctionArn``), the mail bucket (``MailBucketName``) and the
bucket for manifests and reports (``BatchReportsBucketName``). That bucket is the stack's
own, separate from the mail bucket: the S3 uploader never sees the reports, so they are
never counted (or tagged) as rejected mails.

The objects are either listed by S3 (``ManifestGenerator.S3JobManifestGenerator``, with key
prefix / suffix, created-before and size filters) or read from an existing manifest: a CSV
of ``Bucket,Key[,VersionId]`` or an S3 Inventory ``manifest.json``.

AWS references:
https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_CreateJob.html
https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_S3JobManifestGenerator.html
https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-invoke-lambda.html
https://docs.aws.amazon.com/AmazonS3/latest/userguide/batch-ops-job-status.html (reports)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ConfigurationError, InvalidArguments, VaultmailError

SCHEMA_VERSION = "2.0"  # the uploader answers per task with resultCode/resultString
REPORT_PREFIX = "reports"  # S3 writes <prefix>/job-<id>/... in the reports bucket
MANIFEST_PREFIX = "manifests"  # where a generated manifest is kept
CSV_FIELDS = ("Bucket", "Key")
CSV_FIELDS_WITH_VERSIONS = ("Bucket", "Key", "VersionId")

OUTPUT_ROLE = "BatchOperationsRoleArn"
OUTPUT_FUNCTION = "S3UploaderFunctionArn"
OUTPUT_SCANNER = "OversizeScannerFunctionArn"  # --oversize: the scanner's per-object path
OUTPUT_THRESHOLD = "SizeThresholdBytes"  # the scanner's threshold, as the stack deploys it
OUTPUT_SCANNED_BUCKET = "ScannedBucketName"  # --oversize: the bucket the scanner scans
OUTPUT_MAIL_BUCKET = "MailBucketName"
OUTPUT_REPORTS_BUCKET = "BatchReportsBucketName"


@dataclass(frozen=True)
class Targets:
    """What a job runs with, from the stack's outputs."""

    role_arn: str
    function_arn: str
    mail_bucket: str
    reports_bucket: str

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def partition(self) -> str:
        return self.role_arn.split(":")[1]

    def bucket_arn(self, bucket: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}"


@dataclass(frozen=True)
class Manifest:
    """An existing manifest: its S3 object and ETag (CreateJob requires the ETag)."""

    bucket: str
    key: str
    etag: str | None = None
    version_id: str | None = None
    with_versions: bool = False  # CSV rows carry a third column, VersionId

    @property
    def inventory(self) -> bool:
        return self.key.endswith("manifest.json")


@dataclass(frozen=True)
class Spec:
    """What to archive: a bucket (the stack's mail bucket when None) and its filters, or a manifest."""

    bucket: str | None = None
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    created_before: datetime | None = None
    created_after: datetime | None = None
    size_over: int | None = None  # ObjectSizeGreaterThanBytes
    manifest: Manifest | None = None
    all_tasks_report: bool = False
    priority: int = 10
    confirmation_required: bool = False
    recipients: tuple[str, ...] = ()  # vaults added to every mail's (the uploader's -r)
    sender: str | None = None  # the sender vault of every mail (-s)
    token: str = field(default_factory=lambda: str(uuid.uuid4()))


def parse_manifest(text: str, *, with_versions: bool = False) -> Manifest:
    """``s3://bucket/key[,ETAG]`` (the ETag is looked up with HeadObject when left out)."""
    location, _, etag = text.partition(",")
    if not location.startswith("s3://"):
        raise InvalidArguments(f"--manifest: expected s3://BUCKET/KEY[,ETAG], got {text!r}")
    bucket, _, key = location[len("s3://") :].partition("/")
    if not bucket or not key:
        raise InvalidArguments(f"--manifest: expected s3://BUCKET/KEY[,ETAG], got {text!r}")
    return Manifest(bucket, key, etag.strip().strip('"') or None, with_versions=with_versions)


def targets(outputs: Mapping[str, str], *, stack: str, function_output: str = OUTPUT_FUNCTION) -> Targets:
    """The job's role, function and buckets from a stack's outputs (ConfigurationError if missing)."""
    names = (OUTPUT_ROLE, function_output, OUTPUT_MAIL_BUCKET, OUTPUT_REPORTS_BUCKET)
    missing = [name for name in names if not outputs.get(name)]
    if missing:
        raise ConfigurationError(
            f"stack {stack!r} has no output {', '.join(missing)}: deploy this version of template.yaml"
        )
    role = outputs[OUTPUT_ROLE]
    if role.count(":") < 5:
        raise ConfigurationError(f"stack {stack!r}: {OUTPUT_ROLE} is not an ARN: {role!r}")
    return Targets(
        role, outputs[function_output], outputs[OUTPUT_MAIL_BUCKET], outputs[OUTPUT_REPORTS_BUCKET]
    )


def oversize_floor(outputs: Mapping[str, str], *, stack: str) -> int:
    """``ObjectSizeGreaterThanBytes`` for mails at or over the stack's threshold (S3 compares strictly)."""
    text = outputs.get(OUTPUT_THRESHOLD, "")
    if not text.isdigit() or int(text) < 1:
        raise ConfigurationError(
            f"stack {stack!r} has no output {OUTPUT_THRESHOLD} (a positive whole number): "
            "deploy this version of template.yaml"
        )
    return int(text) - 1


def _generator(spec: Spec, where: Targets) -> dict[str, Any]:
    flt: dict[str, Any] = {}
    names: dict[str, list[str]] = {}
    if spec.prefixes:
        names["MatchAnyPrefix"] = list(spec.prefixes)
    if spec.suffixes:
        names["MatchAnySuffix"] = list(spec.suffixes)
    if names:
        flt["KeyNameConstraint"] = names
    if spec.created_before is not None:
        flt["CreatedBefore"] = spec.created_before
    if spec.created_after is not None:
        flt["CreatedAfter"] = spec.created_after
    if spec.size_over is not None:
        flt["ObjectSizeGreaterThanBytes"] = spec.size_over
    generator: dict[str, Any] = {
        "ExpectedBucketOwner": where.account,
        "SourceBucket": where.bucket_arn(spec.bucket or where.mail_bucket),
        # keep the list S3 made, beside the report: what the job ran on, for the record
        "EnableManifestOutput": True,
        "ManifestOutputLocation": {
            "ExpectedManifestBucketOwner": where.account,
            "Bucket": where.bucket_arn(where.reports_bucket),
            "ManifestPrefix": MANIFEST_PREFIX,
            "ManifestEncryption": {"SSES3": {}},
            "ManifestFormat": "S3InventoryReport_CSV_20211130",
        },
    }
    if flt:
        generator["Filter"] = flt
    return {"S3JobManifestGenerator": generator}


def _manifest(manifest: Manifest, where: Targets) -> dict[str, Any]:
    if manifest.etag is None:
        raise InvalidArguments("the manifest's ETag is unknown (give s3://BUCKET/KEY,ETAG)")
    location: dict[str, Any] = {
        "ObjectArn": f"{where.bucket_arn(manifest.bucket)}/{manifest.key}",
        "ETag": manifest.etag,
    }
    if manifest.version_id:
        location["ObjectVersionId"] = manifest.version_id
    if manifest.inventory:  # an S3 Inventory manifest.json names its own columns
        return {"Spec": {"Format": "S3InventoryReport_CSV_20161130"}, "Location": location}
    fields = CSV_FIELDS_WITH_VERSIONS if manifest.with_versions else CSV_FIELDS
    return {
        "Spec": {"Format": "S3BatchOperations_CSV_20180820", "Fields": list(fields)},
        "Location": location,
    }


def describe(spec: Spec, where: Targets) -> str:
    if spec.manifest is not None:
        return f"vaultmail backfill of the objects in s3://{spec.manifest.bucket}/{spec.manifest.key}"[:256]
    where_text = f"s3://{spec.bucket or where.mail_bucket}/"
    if spec.prefixes:
        where_text += "{" + ",".join(spec.prefixes) + "}"
    return f"vaultmail backfill of {where_text}"[:256]


def check(spec: Spec) -> None:
    """Refuse a bad combination of options (InvalidArguments), before any request."""
    if spec.manifest is not None and (
        spec.bucket
        or spec.prefixes
        or spec.suffixes
        or spec.created_before
        or spec.created_after
        or spec.size_over is not None
    ):
        raise InvalidArguments("--manifest lists the objects itself: no --bucket or filters with it")
    if spec.created_before and spec.created_after and spec.created_after >= spec.created_before:
        raise InvalidArguments("--created-after must be earlier than --created-before")
    if not 0 <= spec.priority <= 2147483647:
        raise InvalidArguments("--priority must be between 0 and 2147483647")


def user_arguments(spec: Spec) -> dict[str, str]:
    """Schema 2.0's ``job.userArguments``, which the S3 uploader reads as ``-r``/``-s``."""
    arguments = {}
    if spec.recipients:
        arguments["recipients"] = ",".join(spec.recipients)
    if spec.sender:
        arguments["sender"] = spec.sender
    return arguments


def plan(spec: Spec, where: Targets) -> dict[str, Any]:
    """The CreateJob request (keyword arguments of ``s3control.create_job``)."""
    check(spec)
    invoke: dict[str, Any] = {"FunctionArn": where.function_arn, "InvocationSchemaVersion": SCHEMA_VERSION}
    arguments = user_arguments(spec)
    if arguments:
        invoke["UserArguments"] = arguments
    request: dict[str, Any] = {
        "AccountId": where.account,
        "ConfirmationRequired": spec.confirmation_required,
        "Operation": {"LambdaInvoke": invoke},
        "Report": {
            "Bucket": where.bucket_arn(where.reports_bucket),
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": REPORT_PREFIX,
            "ReportScope": "AllTasks" if spec.all_tasks_report else "FailedTasksOnly",
            "ExpectedBucketOwner": where.account,
        },
        "ClientRequestToken": spec.token,
        "Description": describe(spec, where),
        "Priority": spec.priority,
        "RoleArn": where.role_arn,
    }
    if spec.manifest is not None:
        request["Manifest"] = _manifest(spec.manifest, where)
    else:
        request["ManifestGenerator"] = _generator(spec, where)
    return request


def follow_commands(account: str, job_id: str, reports_bucket: str, region: str | None) -> list[str]:
    """The shell commands that show the job's progress and its report."""
    at = f" --region {region}" if region else ""
    return [
        f"aws s3control describe-job --account-id {account} --job-id {job_id}{at} "
        "--query 'Job.[Status,ProgressSummary]'",
        f"aws s3 ls --recursive s3://{reports_bucket}/{REPORT_PREFIX}/job-{job_id}/{at}",
    ]


# -- execute (AWS I/O) ---------------------------------------------------------------


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    """A stack's outputs by key (DescribeStacks)."""
    try:
        answer = cloudformation.describe_stacks(StackName=stack)
    except ClientError as exc:
        raise ConfigurationError(f"stack {stack!r}: {_aws_error(exc)}") from None
    except BotoCoreError as exc:
        raise ConfigurationError(f"stack {stack!r}: {exc}") from None
    stacks = answer.get("Stacks") or []
    if not stacks:
        raise ConfigurationError(f"stack {stack!r} not found")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def with_etag(s3: Any, manifest: Manifest) -> Manifest:
    """The manifest with its ETag (and version) from HeadObject, when the caller left it out."""
    if manifest.etag is not None:
        return manifest
    try:
        head = s3.head_object(Bucket=manifest.bucket, Key=manifest.key)
    except ClientError as exc:
        raise InvalidArguments(
            f"--manifest s3://{manifest.bucket}/{manifest.key}: {_aws_error(exc)}"
        ) from None
    return Manifest(
        manifest.bucket,
        manifest.key,
        str(head["ETag"]).strip('"'),
        head.get("VersionId") if head.get("VersionId") not in (None, "null") else None,
        manifest.with_versions,
    )


def create_job(s3control: Any, request: Mapping[str, Any]) -> str:
    """Send CreateJob; returns the job id."""
    try:
        return str(s3control.create_job(**request)["JobId"])
    except ClientError as exc:
        raise VaultmailError(
            f"S3 Batch Operations refused the job: {_aws_error(exc)}", reason="Backfill"
        ) from None
    except BotoCoreError as exc:
        raise VaultmailError(f"S3 Batch Operations: {exc}", reason="Backfill") from None


def _aws_error(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
