"""`vaultmail backfill` against moto (CloudFormation outputs, S3 HeadObject) and the template.

moto's S3 Control has no CreateJob: the job request goes to botocore's Stubber (which
validates it against the service model); everything before it is moto.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from vaultmail.cli import run

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's account
OUTPUTS = {
    "BatchOperationsRoleArn": f"arn:aws:iam::{ACCOUNT}:role/vm-BatchOperationsRole-1",
    "S3UploaderFunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:vm-S3UploaderFunction-1",
    "MailBucketName": "vm-mail",
    "BatchReportsBucketName": "vm-batch",
    "OversizeScannerFunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:vm-OversizeScanner-1",
    "SizeThresholdBytes": "10485760",
    "ScannedBucketName": "vm-scanned",
}


@pytest.fixture
def stack(aws_env: dict[str, str]) -> str:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in OUTPUTS.items()},
    }
    boto3.client("cloudformation").create_stack(StackName="vm", TemplateBody=json.dumps(template))
    return "vm"


def stub_s3control(monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Route the CLI's s3control client through a Stubber; returns the requests it saw."""
    seen: list[dict[str, Any]] = []
    real = boto3.session.Session.client

    def client(self: boto3.session.Session, name: str, *args: Any, **kwargs: Any) -> Any:
        made = real(self, name, *args, **kwargs)
        if name != "s3control":
            return made
        stub = Stubber(made)
        if answer is not None:
            stub.add_response("create_job", answer, None)
        stub.activate()
        made.meta.events.register(
            "provide-client-params.s3-control.CreateJob", lambda params, **_: seen.append(params)
        )
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    return seen


def test_dry_run_prints_the_request_and_creates_nothing(
    stack: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = stub_s3control(monkeypatch, None)
    code = run(
        [
            "backfill",
            "--stack",
            stack,
            "--prefix",
            "2025/",
            "--suffix",
            ".eml",
            "--created-before",
            "2026-01-01",
            "--dry-run",
        ]
    )
    out = capsys.readouterr()
    assert code == 0 and seen == []
    request = json.loads(out.out)
    assert request["RoleArn"] == OUTPUTS["BatchOperationsRoleArn"]
    assert request["Operation"]["LambdaInvoke"]["FunctionArn"] == OUTPUTS["S3UploaderFunctionArn"]
    generator = request["ManifestGenerator"]["S3JobManifestGenerator"]
    assert generator["SourceBucket"] == "arn:aws:s3:::vm-mail"
    assert generator["Filter"]["CreatedBefore"] == "2026-01-01T00:00:00+00:00"
    assert request["Report"]["Bucket"] == "arn:aws:s3:::vm-batch"
    assert "no job created" in out.err


def test_creates_the_job_and_says_how_to_follow_it(
    stack: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="vm-batch")
    etag = s3.put_object(Bucket="vm-batch", Key="lists/old mails.csv", Body=b"vm-mail,a.eml\n")["ETag"]
    seen = stub_s3control(monkeypatch, {"JobId": "0123-job"})
    code = run(["backfill", "--stack", stack, "--manifest", "s3://vm-batch/lists/old mails.csv"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err
    (request,) = seen
    assert request["Manifest"]["Location"] == {
        "ObjectArn": "arn:aws:s3:::vm-batch/lists/old mails.csv",
        "ETag": etag.strip('"'),  # read with HeadObject
    }
    assert request["Manifest"]["Spec"]["Fields"] == ["Bucket", "Key"]
    assert "created S3 Batch Operations job 0123-job" in out
    assert f"aws s3control describe-job --account-id {ACCOUNT} --job-id 0123-job" in out


def test_oversize_targets_the_scanner_for_mails_at_or_over_the_threshold(
    stack: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = stub_s3control(monkeypatch, {"JobId": "0456-job"})
    code = run(["backfill", "--stack", stack, "--oversize", "--prefix", "2026/"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (request,) = seen
    assert request["Operation"]["LambdaInvoke"]["FunctionArn"] == OUTPUTS["OversizeScannerFunctionArn"]
    assert request["Operation"]["LambdaInvoke"]["InvocationSchemaVersion"] == "2.0"
    flt = request["ManifestGenerator"]["S3JobManifestGenerator"]["Filter"]
    # S3 compares strictly: one byte under the threshold keeps a mail of exactly the threshold
    assert flt["ObjectSizeGreaterThanBytes"] == 10485759
    assert flt["KeyNameConstraint"]["MatchAnyPrefix"] == ["2026/"]
    # the bucket the scanner scans (ScanBucketName may differ from the mail bucket)
    assert request["ManifestGenerator"]["S3JobManifestGenerator"]["SourceBucket"] == "arn:aws:s3:::vm-scanned"
    assert "created S3 Batch Operations job 0456-job" in captured.out


def test_oversize_refuses_a_manifest_or_vaults(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["backfill", "--stack", stack, "--oversize", "-r", "ops@acme.com"]) == 3
    assert "--oversize" in capsys.readouterr().err


def test_a_stack_without_the_outputs_exits_3(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["backfill", "--stack", "missing"]) == 3
    assert "missing" in capsys.readouterr().err


def test_no_region_exits_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert run(["backfill", "--stack", "vm"]) == 3
    assert "--region" in capsys.readouterr().err


def test_bad_flags_show_the_backfill_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        run(["backfill", "--stack", "x", "--created-before", "yesterday"])
    assert err.value.code == 3
    assert "usage: vaultmail backfill" in capsys.readouterr().err


# ---- the template's side ------------------------------------------------------------------------


def _template() -> dict[str, Any]:
    class Loader(yaml.SafeLoader):
        pass

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    Loader.add_multi_constructor("!", tag)
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)


def test_reports_live_where_the_s3_uploader_never_looks() -> None:
    template = _template()
    resources = template["Resources"]
    assert resources["BatchReportsBucket"]["Type"] == "AWS::S3::Bucket"
    watched = [
        event["Properties"]["Bucket"]
        for res in resources.values()
        if res["Type"] == "AWS::Serverless::Function"
        for event in (res["Properties"].get("Events") or {}).values()
        if event["Type"] == "S3"
    ]
    assert {"Ref": "BatchReportsBucket"} not in watched
    role = resources["BatchOperationsRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    writes = [s["Resource"] for s in role if "s3:PutObject" in s["Action"]]
    assert writes == [{"Fn::Sub": "${BatchReportsBucket.Arn}/*"}]
    outputs = template["Outputs"]
    assert outputs["BatchReportsBucketName"]["Value"] == {"Ref": "BatchReportsBucket"}
    assert set(OUTPUTS) <= set(outputs)
