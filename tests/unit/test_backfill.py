"""The backfill plan: the CreateJob request, field by field against AWS's documented shape.

moto's S3 Control does not implement CreateJob, so the request is sent to botocore's Stubber,
which validates it against the service model (required members, types, enums) and fails the
test on any difference from the expected parameters.
Shape: https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_CreateJob.html
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from vaultmail import backfill
from vaultmail.errors import ConfigurationError, InvalidArguments, VaultmailError

ACCOUNT = "123456789012"
OUTPUTS = {
    "BatchOperationsRoleArn": f"arn:aws:iam::{ACCOUNT}:role/vaultmail-BatchOperationsRole-X",
    "S3UploaderFunctionArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:vaultmail-S3Uploader-Y",
    "MailBucketName": "vaultmail-mail-123456789012-eu-west-1",
    "BatchReportsBucketName": "vaultmail-batch-123456789012-eu-west-1",
}
WHERE = backfill.targets(OUTPUTS, stack="vaultmail")


def s3control() -> Any:
    return boto3.client("s3control", region_name="eu-west-1")


def test_targets_come_from_the_outputs_and_name_what_is_missing() -> None:
    assert WHERE.account == ACCOUNT and WHERE.partition == "aws"
    assert WHERE.reports_bucket != WHERE.mail_bucket  # reports never reach the S3 uploader
    partial = {k: v for k, v in OUTPUTS.items() if k != "BatchReportsBucketName"}
    with pytest.raises(ConfigurationError, match="BatchReportsBucketName"):
        backfill.targets(partial, stack="old")


def test_generated_manifest_request_field_by_field() -> None:
    before = datetime(2026, 1, 1, tzinfo=UTC)
    spec = backfill.Spec(prefixes=("2025/", "2024/"), suffixes=(".eml",), created_before=before, token="t-1")
    request = backfill.plan(spec, WHERE)

    assert request["AccountId"] == ACCOUNT
    assert request["ConfirmationRequired"] is False
    assert request["ClientRequestToken"] == "t-1"
    assert request["Priority"] == 10
    assert request["RoleArn"] == OUTPUTS["BatchOperationsRoleArn"]
    assert request["Operation"] == {
        "LambdaInvoke": {
            "FunctionArn": OUTPUTS["S3UploaderFunctionArn"],
            "InvocationSchemaVersion": "2.0",
        }
    }
    report = request["Report"]
    assert report["Bucket"] == "arn:aws:s3:::vaultmail-batch-123456789012-eu-west-1"
    assert report["Format"] == "Report_CSV_20180820"
    assert report["Enabled"] is True
    assert report["ReportScope"] == "FailedTasksOnly"
    assert report["Prefix"] == "reports"
    assert "Manifest" not in request  # Manifest and ManifestGenerator are exclusive
    generator = request["ManifestGenerator"]["S3JobManifestGenerator"]
    assert generator["SourceBucket"] == "arn:aws:s3:::vaultmail-mail-123456789012-eu-west-1"
    assert generator["ExpectedBucketOwner"] == ACCOUNT
    assert generator["EnableManifestOutput"] is True
    output = generator["ManifestOutputLocation"]
    assert output["Bucket"] == report["Bucket"]
    assert output["ManifestFormat"] == "S3InventoryReport_CSV_20211130"
    assert generator["Filter"] == {
        "KeyNameConstraint": {"MatchAnyPrefix": ["2025/", "2024/"], "MatchAnySuffix": [".eml"]},
        "CreatedBefore": before,
    }
    assert request["Description"].startswith("vaultmail backfill of s3://vaultmail-mail-")


def test_recipients_and_sender_travel_as_user_arguments() -> None:
    plain = backfill.plan(backfill.Spec(), WHERE)["Operation"]["LambdaInvoke"]
    assert "UserArguments" not in plain
    spec = backfill.Spec(recipients=("legal@acme.com", "hr@acme.com"), sender="boss@acme.com")
    invoke = backfill.plan(spec, WHERE)["Operation"]["LambdaInvoke"]
    # what functions/s3_uploader reads from job.userArguments (schema 2.0)
    assert invoke["UserArguments"] == {"recipients": "legal@acme.com,hr@acme.com", "sender": "boss@acme.com"}


def test_no_filter_means_no_filter_member_and_size_filter_is_passed() -> None:
    bare = backfill.plan(backfill.Spec(bucket="other-bucket"), WHERE)["ManifestGenerator"]
    assert "Filter" not in bare["S3JobManifestGenerator"]
    assert bare["S3JobManifestGenerator"]["SourceBucket"] == "arn:aws:s3:::other-bucket"
    sized = backfill.plan(backfill.Spec(size_over=10485759), WHERE)["ManifestGenerator"]
    assert sized["S3JobManifestGenerator"]["Filter"] == {"ObjectSizeGreaterThanBytes": 10485759}


@pytest.mark.parametrize(
    ("text", "versions", "spec"),
    [
        (
            "s3://inv/m/x.csv,abc123",
            False,
            {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key"]},
        ),
        (
            's3://inv/m/x.csv,"abc123"',
            True,
            {"Format": "S3BatchOperations_CSV_20180820", "Fields": ["Bucket", "Key", "VersionId"]},
        ),
        (
            "s3://inv/mail/daily/2026-01-01T00-00Z/manifest.json,abc123",
            False,
            {"Format": "S3InventoryReport_CSV_20161130"},
        ),
    ],
)
def test_existing_manifest_request(text: str, versions: bool, spec: dict[str, Any]) -> None:
    manifest = backfill.parse_manifest(text, with_versions=versions)
    request = backfill.plan(backfill.Spec(manifest=manifest), WHERE)
    assert "ManifestGenerator" not in request
    assert request["Manifest"]["Spec"] == spec
    location = request["Manifest"]["Location"]
    assert location["ETag"] == "abc123"
    assert location["ObjectArn"] == f"arn:aws:s3:::inv/{manifest.key}"


@pytest.mark.parametrize("bad", ["inv/m.csv", "s3://inv", "s3:///key", "https://inv.s3.amazonaws.com/m.csv"])
def test_bad_manifest_text_is_invalid_arguments(bad: str) -> None:
    with pytest.raises(InvalidArguments):
        backfill.parse_manifest(bad)


def test_manifest_with_filters_or_without_etag_is_refused() -> None:
    manifest = backfill.parse_manifest("s3://inv/m.csv,e")
    with pytest.raises(InvalidArguments, match="no --bucket or filters"):
        backfill.plan(backfill.Spec(manifest=manifest, prefixes=("a/",)), WHERE)
    with pytest.raises(InvalidArguments, match="ETag"):
        backfill.plan(backfill.Spec(manifest=backfill.parse_manifest("s3://inv/m.csv")), WHERE)
    with pytest.raises(InvalidArguments, match="earlier"):
        day = datetime(2026, 1, 1, tzinfo=UTC)
        backfill.plan(backfill.Spec(created_after=day, created_before=day), WHERE)


@pytest.mark.parametrize(
    "spec",
    [
        backfill.Spec(token="t-2", prefixes=("a/",), created_before=datetime(2026, 1, 1, tzinfo=UTC)),
        backfill.Spec(token="t-3", size_over=1, all_tasks_report=True, confirmation_required=True),
        backfill.Spec(token="t-7", recipients=("legal@acme.com", "hr@acme.com"), sender="boss@acme.com"),
        backfill.Spec(token="t-4", manifest=backfill.Manifest("inv", "m/manifest.json", "etag", "v1")),
    ],
)
def test_the_request_is_valid_for_the_service_model(spec: backfill.Spec) -> None:
    client = s3control()
    request = backfill.plan(spec, WHERE)
    with Stubber(client) as stub:
        stub.add_response("create_job", {"JobId": "job-1"}, request)
        assert backfill.create_job(client, request) == "job-1"
        stub.assert_no_pending_responses()


def test_the_stubber_catches_a_request_off_the_model() -> None:
    """The check above can fail: a member the model does not know is refused."""
    client = s3control()
    request = {**backfill.plan(backfill.Spec(token="t-5"), WHERE), "Manifests": {}}
    with Stubber(client) as stub:
        stub.add_response("create_job", {"JobId": "job-1"}, request)
        with pytest.raises(VaultmailError, match='Unknown parameter in input: "Manifests"') as err:
            backfill.create_job(client, request)
    assert isinstance(err.value.__context__, ParamValidationError)


def test_a_refused_job_is_an_error_with_aws_words() -> None:
    client = s3control()
    request = backfill.plan(backfill.Spec(token="t-6"), WHERE)
    with Stubber(client) as stub:
        stub.add_client_error("create_job", "AccessDenied", "not allowed to pass the role", 403)
        with pytest.raises(VaultmailError, match="AccessDenied: not allowed to pass the role") as err:
            backfill.create_job(client, request)
    assert err.value.exit_code == 1


def test_stack_outputs_and_a_missing_stack() -> None:
    cfn = boto3.client("cloudformation", region_name="eu-west-1")
    with Stubber(cfn) as stub:
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in OUTPUTS.items()]
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "vm",
                        "CreationTime": datetime(2026, 1, 1),
                        "StackStatus": "CREATE_COMPLETE",
                        "Outputs": outputs,
                    }
                ]
            },
            {"StackName": "vm"},
        )
        stub.add_client_error("describe_stacks", "ValidationError", "Stack with id nope does not exist", 400)
        assert backfill.stack_outputs(cfn, "vm") == OUTPUTS
        with pytest.raises(ConfigurationError, match="does not exist"):
            backfill.stack_outputs(cfn, "nope")


def test_manifest_etag_from_head_object() -> None:
    s3 = boto3.client("s3", region_name="eu-west-1")
    with Stubber(s3) as stub:
        stub.add_response(
            "head_object", {"ETag": '"abc"', "VersionId": "v9"}, {"Bucket": "inv", "Key": "m.csv"}
        )
        manifest = backfill.with_etag(s3, backfill.parse_manifest("s3://inv/m.csv"))
    assert (manifest.etag, manifest.version_id) == ("abc", "v9")


def test_follow_commands_name_the_job() -> None:
    describe, listing = backfill.follow_commands(ACCOUNT, "job-1", "reports-b", "eu-west-1")
    assert describe.startswith(
        f"aws s3control describe-job --account-id {ACCOUNT} --job-id job-1 --region eu-west-1"
    )
    assert "s3://reports-b/reports/job-job-1/" in listing
