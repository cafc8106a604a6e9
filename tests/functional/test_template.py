"""template.yaml: `sam validate --lint`, the promises of design.md, and `sam build` on Python 3.13."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from vaultmail_dev import sambuild
from vaultmail_dev.stack import load_template

ROOT = sambuild.ROOT
TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = {k: v for k, v in RESOURCES.items() if v["Type"] == "AWS::Serverless::Function"}
UPLOADERS = ("SnsUploaderFunction", "S3UploaderFunction")


def of_type(rtype: str) -> dict[str, Any]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == rtype}


def test_sam_validate_lint() -> None:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    proc = subprocess.run(
        [sambuild.sam_executable(), "validate", "--lint", "--template", str(ROOT / "template.yaml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_three_functions_one_layer_python313_arm64() -> None:
    glob = TEMPLATE["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13" and glob["Architectures"] == ["arm64"]
    assert glob["Layers"] == [{"Ref": "CoreLayer"}]
    code = {v["Properties"]["CodeUri"].rstrip("/") for v in FUNCTIONS.values()}
    assert code == {"functions/sns_uploader", "functions/s3_uploader", "functions/oversize_scanner"}
    (layer,) = of_type("AWS::Serverless::LayerVersion").values()
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/core"
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    for name in UPLOADERS:
        assert FUNCTIONS[name]["Properties"].get("MemorySize", glob["MemorySize"]) == 128


def test_one_state_table_with_the_idempotency_schema() -> None:
    (table,) = of_type("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_uploaders_retry_twice_then_dead_letter_with_an_alarm() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm").values()
    alarmed = {a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in alarms}
    for name in UPLOADERS:
        cfg = FUNCTIONS[name]["Properties"]["EventInvokeConfig"]
        assert cfg["MaximumRetryAttempts"] == 2 and cfg["MaximumEventAgeInSeconds"] > 0
        dest = cfg["DestinationConfig"]["OnFailure"]
        assert dest["Type"] == "SQS"
        queue = dest["Destination"]["Fn::GetAtt"][0]
        assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue" and queue in alarmed


def test_events_and_schedule() -> None:
    sns = FUNCTIONS["SnsUploaderFunction"]["Properties"]["Events"]
    s3 = FUNCTIONS["S3UploaderFunction"]["Properties"]["Events"]
    scan = FUNCTIONS["OversizeScannerFunction"]["Properties"]["Events"]
    assert [e["Type"] for e in sns.values()] == ["SNS"]
    assert [e["Type"] for e in s3.values()] == ["S3"]
    assert [e["Type"] for e in scan.values()] == ["ScheduleV2"]


def test_mail_bucket_is_private_encrypted_versioned() -> None:
    props = RESOURCES["MailBucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]


def _statements(node: Any) -> list[dict[str, Any]]:
    """Every IAM-like statement (dict with Effect and Action) anywhere under ``node``."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "Effect" in node and "Action" in node:
            found.append(node)
        for value in node.values():
            found += _statements(value)
    elif isinstance(node, list):
        for value in node:
            found += _statements(value)
    return found


def test_no_wildcard_actions_and_no_plain_text_key() -> None:
    statements = [s for k, v in RESOURCES.items() if k != "MailBucketPolicy" for s in _statements(v)]
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any("*" in str(a) for a in actions), statement
    assert "ApiKey" not in TEMPLATE["Parameters"]  # the key comes from Secrets Manager only


def test_environment_names_of_design_md() -> None:
    glob = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert {"PRIMARY_DOMAIN", "API_ENDPOINT_URL", "API_KEY_SECRET_ARN", "STATE_TABLE"} <= set(glob)
    scanner = FUNCTIONS["OversizeScannerFunction"]["Properties"]["Environment"]["Variables"]
    assert {
        "MAIL_BUCKET",
        "SCAN_PREFIXES",
        "SIZE_THRESHOLD_BYTES",
        "NOTIFY_FROM",
        "ADMIN_EMAIL",
        "LINK_EXPIRY_SECONDS",
    } <= set(scanner)
    assert TEMPLATE["Parameters"]["LinkExpirySeconds"]["MaxValue"] == 604800


@pytest.fixture(scope="module")
def built() -> Path:
    python = sambuild.find_python313()
    if python is None:
        pytest.skip("NO python3.13 on PATH or in pyenv: sam build for the python3.13 runtime was NOT tested")
    return sambuild.build(python)


def test_sam_build_artifacts(built: Path) -> None:
    layer = built / "CoreLayer" / "python"
    for package in ("vaultmail/__init__.py", "aws_lambda_powertools", "requests", "requests_toolbelt"):
        assert (layer / package).exists(), package
    for name in FUNCTIONS:
        assert (built / name / "app.py").exists()
    assert not (layer / "vaultmail_dev").exists()  # the dev-only package stays out of the layer
