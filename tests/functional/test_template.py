"""template.yaml, samconfig.toml and events/: `sam validate --lint`, the promises of design.md
checked on the template as written AND as SAM transforms it (the roles and invoke configs that
CloudFormation would really create), and `sam build` for python3.13 on arm64."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import struct
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from samcli.yamlhelper import yaml_parse
from samtranslator.parser import parser as sam_parser
from samtranslator.translator.translator import Translator

from vaultmail_dev import sambuild
from vaultmail_dev.stack import Resolver

from ..sam_build import build

ROOT = sambuild.ROOT
DESIGN = ROOT.parent / "shared" / "design.md"
TEMPLATE: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
UPLOADERS = ("SnsUploaderFunction", "S3UploaderFunction")
SCANNER = "OversizeScannerFunction"
DOWNLOAD = "DownloadFunction"
FUNCTIONS = (*UPLOADERS, SCANNER, DOWNLOAD)

# design.md's settings table: name -> "used by" (kept here so the test runs without shared/;
# test_settings_table_matches_design_md checks it against design.md when that is present).
DESIGN_SETTINGS = {
    "PRIMARY_DOMAIN": "uploaders, CLI",
    "API_ENDPOINT_URL": "uploaders, CLI",
    "API_KEY": "CLI, local runs",
    "API_KEY_SECRET_ARN": "Lambdas",
    "MAIL_BUCKET": "scanner",
    "SCAN_PREFIXES": "scanner",
    "SES_KEY_PREFIXES": "S3 uploader, scanner",
    "POINTER_LOCATIONS": "SNS uploader",
    "MAX_NOTICE_RECIPIENTS": "scanner",
    "SIZE_THRESHOLD_BYTES": "scanner",
    "NOTIFY_FROM": "scanner",
    "ADMIN_EMAIL": "scanner",
    "LINK_EXPIRY_SECONDS": "scanner",
    "LINK_BASE_URL": "scanner",
    "STATE_TABLE": "all",
    "AWS_ENDPOINT_URL": "all",
}
NOT_IN_LAMBDA = {"API_KEY", "AWS_ENDPOINT_URL"}  # plain-text key; local emulator endpoint


def _expected_env(function: str) -> set[str]:
    users = {
        "uploaders": set(UPLOADERS),
        "scanner": {SCANNER},
        "SNS uploader": {"SnsUploaderFunction"},
        "S3 uploader": {"S3UploaderFunction"},
        "Lambdas": set(UPLOADERS),  # the API key: only the uploaders call the API
        "all": set(FUNCTIONS),
    }
    wanted = set()
    for name, used_by in DESIGN_SETTINGS.items():
        if name in NOT_IN_LAMBDA:
            continue
        if any(function in users.get(who.strip(), set()) for who in used_by.split(",")):
            wanted.add(name)
    return wanted


def of_type(rtype: str, resources: dict[str, Any] = RESOURCES) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if v["Type"] == rtype}


def props(logical: str, resources: dict[str, Any] = RESOURCES) -> dict[str, Any]:
    return dict(resources[logical].get("Properties") or {})


def listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(node: Any) -> list[dict[str, Any]]:
    """Every IAM-like statement (a dict with Effect and Action) anywhere under ``node``."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "Effect" in node and "Action" in node:
            found.append(node)
        for value in node.values():
            found += statements(value)
    elif isinstance(node, list):
        for value in node:
            found += statements(value)
    return found


@cache
def transformed() -> dict[str, Any]:
    """The template as the AWS::Serverless transform expands it (offline, as `sam validate` does)."""
    template = copy.deepcopy(TEMPLATE)
    for resource in template["Resources"].values():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://bucket/layer.zip"
    translator = Translator(
        None, sam_parser.Parser(), [], boto_session=boto3.session.Session(region_name="us-east-1")
    )
    out: dict[str, Any] = translator.translate(
        sam_template=template, parameter_values={}, get_managed_policy_map=lambda: {}
    )
    return out


def role_statements(function: str) -> list[dict[str, Any]]:
    """The statements of the function's role: its own policies and the role policies attached to
    it (those that name the function itself: its log group, its idempotency records)."""
    out = transformed()["Resources"]
    assert props(function, out)["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
    return policy_statements(f"{function}Role", out)


def policy_statements(role: str, resources: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in resources[role]["Properties"].get("Policies", []):
        found += statements(policy["PolicyDocument"])
    for attached in of_type("AWS::IAM::RolePolicy", resources).values():
        if attached["Properties"]["RoleName"] == {"Ref": role}:
            found += statements(attached["Properties"]["PolicyDocument"])
    return found


def actions_of(function: str) -> set[str]:
    return {a for s in role_statements(function) if s["Effect"] == "Allow" for a in listify(s["Action"])}


# ---- lint ----------------------------------------------------------------------------------


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_sam_validate_lint() -> None:
    proc = _run([sambuild.sam_executable(), "validate", "--lint", "--template", str(ROOT / "template.yaml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr


def test_cfn_lint_with_informational_checks() -> None:
    cfn_lint = Path(sambuild.sam_executable()).with_name("cfn-lint")
    if not cfn_lint.exists():
        pytest.skip(f"cfn-lint not installed beside sam ({cfn_lint}): informational checks NOT run")
    proc = _run([str(cfn_lint), "--include-checks", "I", "--", str(ROOT / "template.yaml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- functions and layer ---------------------------------------------------------------------


def test_three_functions_one_layer_python313_arm64() -> None:
    glob = TEMPLATE["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13" and glob["Architectures"] == ["arm64"]
    assert glob["Layers"] == [{"Ref": "CoreLayer"}] and glob["Handler"] == "app.lambda_handler"
    assert set(of_type("AWS::Serverless::Function")) == set(FUNCTIONS)
    code = {name: props(name)["CodeUri"].rstrip("/") for name in FUNCTIONS}
    assert code == {
        "SnsUploaderFunction": "functions/sns_uploader",
        "S3UploaderFunction": "functions/s3_uploader",
        SCANNER: "functions/oversize_scanner",
        DOWNLOAD: "functions/download",
    }
    (layer,) = of_type("AWS::Serverless::LayerVersion").values()
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/core"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    for name in UPLOADERS:
        assert props(name).get("MemorySize", glob["MemorySize"]) == 128
        assert props(name).get("Timeout", glob["Timeout"]) >= 180  # a 50 MB upload
    assert props(SCANNER)["Timeout"] == 300


def test_every_transformed_function_runs_python313_arm64_with_the_layer() -> None:
    out = transformed()["Resources"]
    layers = of_type("AWS::Lambda::LayerVersion", out)
    assert len(layers) == 1
    for name in FUNCTIONS:
        fn = props(name, out)
        assert fn["Runtime"] == "python3.13" and fn["Architectures"] == ["arm64"], name
        assert fn["Handler"] == "app.lambda_handler"
        assert [ref["Ref"] for ref in fn["Layers"]] == list(layers), name


def test_function_requirements_are_empty_the_layer_has_the_dependencies() -> None:
    for name in ("sns_uploader", "s3_uploader", "oversize_scanner", "download"):
        lines = (ROOT / "functions" / name / "requirements.txt").read_text().splitlines()
        assert [line for line in lines if line.strip() and not line.lstrip().startswith("#")] == [], name
    pinned = (ROOT / "layers/core/requirements.txt").read_text()
    for dist in ("aws-lambda-powertools==", "requests==", "requests-toolbelt=="):
        assert dist in pinned


# ---- state ---------------------------------------------------------------------------------


def test_one_state_table_with_the_idempotency_schema() -> None:
    (logical, table), *others = of_type("AWS::DynamoDB::Table").items()
    assert not others
    p = table["Properties"]
    assert p["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert p["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["STATE_TABLE"] == {"Ref": logical}


# ---- nothing lost ----------------------------------------------------------------------------


QUEUES = {"SnsUploaderFunction": "SnsUploaderQueue", "S3UploaderFunction": "S3UploaderQueue"}


def _getatt(ref: Any) -> str:
    return str(ref["Fn::GetAtt"][0])


def test_uploaders_are_fed_by_queues_that_dead_letter_with_an_alarm() -> None:
    out = transformed()["Resources"]
    alarms = [a["Properties"] for a in of_type("AWS::CloudWatch::Alarm").values()]
    mappings = {
        m["Properties"]["FunctionName"]["Ref"]: m["Properties"]
        for m in of_type("AWS::Lambda::EventSourceMapping", out).values()
    }
    for name, queue in QUEUES.items():
        esm = mappings[name]
        assert _getatt(esm["EventSourceArn"]) == queue
        assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]  # partial batch responses
        assert esm["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ApiConcurrency"}}
        q = RESOURCES[queue]
        assert q["DeletionPolicy"] == "Retain" and q["Properties"]["SqsManagedSseEnabled"] is True
        assert (
            "KmsMasterKeyId" not in q["Properties"]
        )  # never alias/aws/sqs: SNS, S3, EventBridge could not send
        dlq = _getatt(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        d = RESOURCES[dlq]
        assert d["Properties"]["MessageRetentionPeriod"] == 1209600  # 14 days
        assert d["Properties"]["SqsManagedSseEnabled"] is True and d["DeletionPolicy"] == "Retain"
        (alarm,) = [a for a in alarms if a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq, "QueueName"]}]
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible" and alarm["Threshold"] == 0
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert "start-message-move-task" in alarm["AlarmDescription"]
        (waiting,) = [
            a for a in alarms if a["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
        ]
        assert waiting["MetricName"] == "ApproximateAgeOfOldestMessage"
        # only its own queue's messages are delayed by the function (the backoff)
        (change,) = [
            s for s in role_statements(name) if "sqs:ChangeMessageVisibility" in listify(s["Action"])
        ]
        assert change["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
        # no asynchronous invocation config: nothing invokes the uploaders asynchronously any more
        assert not any(
            c["Properties"]["FunctionName"] == {"Ref": name}
            for c in of_type("AWS::Lambda::EventInvokeConfig", out).values()
        )


def test_every_way_to_lose_or_stall_work_has_an_alarm() -> None:
    alarms = [a["Properties"] for a in of_type("AWS::CloudWatch::Alarm").values()]

    def alarm_on(namespace: str, metric: str, dimension: Any) -> dict[str, Any]:
        (found,) = [
            a
            for a in alarms
            if (a["Namespace"], a["MetricName"]) == (namespace, metric)
            and a["Dimensions"][0]["Value"] == dimension
        ]
        assert found["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert found["Threshold"] == 0 and found["ComparisonOperator"] == "GreaterThanThreshold"
        return found

    # a download function that fails or is throttled: recipients' links fail
    alarm_on("AWS/Lambda", "Errors", {"Ref": DOWNLOAD})
    alarm_on("AWS/Lambda", "Throttles", {"Ref": DOWNLOAD})
    # a delivery that reached neither the queue nor its dead-letter queue
    alarm_on(
        "AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq", {"Fn::GetAtt": ["MailTopic", "TopicName"]}
    )
    bridged = alarm_on("AWS/Events", "InvocationsFailedToBeSentToDlq", {"Ref": "ExternalMailRule"})
    assert RESOURCES["ExternalMailRuleDeliveryFailureAlarm"]["Condition"] == "HasExternalBucket"
    assert bridged["Statistic"] == "Sum"
    alarm_on("AWS/Lambda", "Errors", {"Ref": SCANNER})
    powertools = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    namespace, service = powertools["POWERTOOLS_METRICS_NAMESPACE"], powertools["POWERTOOLS_SERVICE_NAME"]
    notices = alarm_on(namespace, "NoticesFailed", service)
    assert notices["Dimensions"][0]["Name"] == "service"  # the dimension Powertools Metrics adds
    assert notices["EvaluationPeriods"] == notices["DatapointsToAlarm"] == 3  # not a single bad run
    # the metric is one the scanner's handler emits
    assert '"NoticesFailed"' in (ROOT / "functions" / "oversize_scanner" / "app.py").read_text()


def test_topic_and_buckets_deliver_to_the_queues_and_may() -> None:
    sub = props("MailTopicSubscription")
    assert sub["Protocol"] == "sqs" and sub["TopicArn"] == {"Ref": "MailTopic"}
    assert _getatt(sub["Endpoint"]) == "SnsUploaderQueue"
    # the envelope is kept: its MessageId keys the idempotency records (and 256 KB fits SQS's 1 MiB)
    assert sub["RawMessageDelivery"] is False
    assert _getatt(sub["RedrivePolicy"]["deadLetterTargetArn"]) == "SnsUploaderDlq"
    for queue in ("SnsUploaderQueue", "SnsUploaderDlq", "S3UploaderQueue", "S3UploaderDlq"):
        assert props(queue)["MaximumMessageSize"] == 1048576
    (notification,) = props("MailBucket")["NotificationConfiguration"]["QueueConfigurations"]
    assert notification == {
        "Event": "s3:ObjectCreated:*",
        "Queue": {"Fn::GetAtt": ["S3UploaderQueue", "Arn"]},
    }
    assert "Filter" not in notification  # every object: the handler skips folder markers
    assert RESOURCES["MailBucket"]["DependsOn"] == "S3UploaderQueuePolicy"  # S3 checks it may send

    def senders(policy: str) -> dict[str, dict[str, Any]]:
        p = props(policy)
        resolved = Resolver(TEMPLATE, {"ExternalMailBucketName": "ext"}).value(p["PolicyDocument"])
        # the allowed senders (each policy also denies non-TLS access: test_queues_deny_plain_http)
        return {s["Principal"]["Service"]: s for s in resolved["Statement"] if s["Effect"] == "Allow"}

    sns = senders("SnsUploaderQueuePolicy")["sns.amazonaws.com"]
    assert props("SnsUploaderQueuePolicy")["PolicyDocument"]["Statement"][0]["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Ref": "MailTopic"}}
    }
    s3 = senders("S3UploaderQueuePolicy")
    assert s3["s3.amazonaws.com"]["Condition"]["ArnEquals"]["aws:SourceArn"] == (
        "arn:aws:s3:::vaultmail-local-mail-123456789012-us-east-1"
    )
    assert s3["s3.amazonaws.com"]["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert set(s3) == {"s3.amazonaws.com", "events.amazonaws.com"}  # EventBridge with an external bucket
    for statement in [sns, *s3.values()]:
        assert statement["Action"] == "sqs:SendMessage" and statement["Effect"] == "Allow"


def test_events_queues_and_schedule() -> None:
    for name, queue in QUEUES.items():
        (event,) = props(name)["Events"].values()
        assert event["Type"] == "SQS" and _getatt(event["Properties"]["Queue"]) == queue
    events = props(SCANNER)["Events"]
    assert set(events) == {"Schedule", "Arrival"}
    scan, arrival = events["Schedule"], events["Arrival"]
    assert arrival["Type"] == "SQS"
    assert arrival["Properties"]["Queue"] == {"Fn::GetAtt": ["OversizeScannerQueue", "Arn"]}
    assert arrival["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert arrival["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "ArrivalConcurrency"}}
    queue = props("OversizeScannerQueue")
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["OversizeScannerDlq", "Arn"]}
    assert props("OversizeScannerDlq")["MessageRetentionPeriod"] == 1209600
    document = props("OversizeScannerQueuePolicy")["PolicyDocument"]
    (policy,) = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    rule_arn = {"Fn::GetAtt": ["OversizeMailRule", "Arn"]}
    assert policy["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}
    bridge = props("MailBucket")["NotificationConfiguration"]["EventBridgeConfiguration"]
    assert bridge == {"EventBridgeEnabled": True}
    assert scan["Type"] in ("Schedule", "ScheduleV2")
    assert scan["Properties"]["ScheduleExpression"] == {"Ref": "ScanSchedule"}
    assert PARAMETERS["ScanSchedule"]["Default"] == "rate(1 day)"  # a backstop: arrivals are noticed at once
    (schedule,) = [r for r in transformed()["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert "Name" not in schedule["Properties"]  # generated: two stacks in one region do not collide
    assert schedule["Properties"]["State"] == {"Ref": "ScanScheduleState"}
    assert PARAMETERS["ScanScheduleState"]["Default"] == "ENABLED"


def test_one_cap_on_the_executions_that_talk_to_the_api() -> None:
    cap = PARAMETERS["ApiConcurrency"]
    assert cap["Type"] == "Number" and cap["Default"] == 10
    assert min(cap["AllowedValues"]) >= 2  # SQS event sources' MaximumConcurrency is 2..1000
    assert max(cap["AllowedValues"]) <= 1000
    reserved = props("S3UploaderFunction")["ReservedConcurrentExecutions"]
    assert reserved == {"Fn::FindInMap": ["Concurrency", {"Ref": "ApiConcurrency"}, "S3UploaderReserved"]}
    table = TEMPLATE["Mappings"]["Concurrency"]
    # every allowed value has its row: the queue's share plus as many for S3 Batch Operations
    assert {int(k): v["S3UploaderReserved"] for k, v in table.items()} == {
        v: 2 * v for v in cap["AllowedValues"]
    }


def test_external_bucket_reaches_the_s3_uploader_through_eventbridge() -> None:
    assert "EventBridge" in PARAMETERS["ExternalMailBucketName"]["Description"]
    rule = RESOURCES["ExternalMailRule"]
    assert rule["Condition"] == "HasExternalBucket"
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "ExternalMailBucketName"}]
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["S3UploaderQueue", "Arn"]}
    assert _getatt(target["DeadLetterConfig"]["Arn"]) == "S3UploaderDlq"
    permissions = of_type("AWS::Lambda::Permission")  # nothing invokes the uploaders but their queues
    assert permissions == {}


def test_every_policy_document_names_its_version() -> None:
    def documents(node: Any) -> list[Any]:
        found = []
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"):
                    found.append(value)
                found += documents(value)
        elif isinstance(node, list):
            for value in node:
                found += documents(value)
        return found

    # the scanner's section is not checked here (its schedule role is SAM's own)
    docs = documents({k: v for k, v in transformed()["Resources"].items() if not k.startswith(SCANNER)})
    assert len(docs) > 10
    assert all(isinstance(d, dict) and d.get("Version") == "2012-10-17" for d in docs), docs


def test_batch_operations_role_invokes_only_the_s3_uploader_and_the_scanner() -> None:
    role = props("BatchOperationsRole")
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "batchoperations.s3.amazonaws.com"}
    found = statements(role["Policies"])
    invoke = [s for s in found if "lambda:InvokeFunction" in listify(s["Action"])]
    assert [s["Resource"] for s in invoke] == [
        [{"Fn::GetAtt": ["S3UploaderFunction", "Arn"]}, {"Fn::GetAtt": ["OversizeScannerFunction", "Arn"]}]
    ]
    assert any("s3:GetObject" in listify(s["Action"]) for s in found)
    assert TEMPLATE["Outputs"]["BatchOperationsRoleArn"]["Value"] == {
        "Fn::GetAtt": ["BatchOperationsRole", "Arn"]
    }


# ---- storage and topics ------------------------------------------------------------------------


def test_mail_bucket_is_private_encrypted_versioned_tls_only() -> None:
    p = props("MailBucket")
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    pab = p["PublicAccessBlockConfiguration"]
    assert set(pab) == {"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"}
    assert all(v is True for v in pab.values())
    assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert RESOURCES["MailBucket"]["DeletionPolicy"] == "Retain"
    policy = props("MailBucketPolicy")
    assert policy["Bucket"] == {"Ref": "MailBucket"}
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_topics_use_a_customer_managed_key_that_ses_and_cloudwatch_may_use() -> None:
    # alias/aws/sns cannot be granted to SES (receipt rules) or CloudWatch (alarm actions)
    for topic in of_type("AWS::SNS::Topic"):
        assert props(topic)["KmsMasterKeyId"] == {"Ref": "TopicKey"}, topic
    key = props("TopicKey")
    assert key["EnableKeyRotation"] is True
    services = set()
    for statement in key["KeyPolicy"]["Statement"]:
        services |= set(listify((statement.get("Principal") or {}).get("Service", [])))
    assert {"ses.amazonaws.com", "cloudwatch.amazonaws.com"} <= services


# ---- least privilege ---------------------------------------------------------------------------


def _is_key_admin_delegation(statement: dict[str, Any]) -> bool:
    """The default KMS key policy statement: the account (root) administers the key through IAM."""
    principal = statement.get("Principal") or {}
    return (
        statement.get("Sid") == "AccountAdministersTheKeyThroughIam"
        and statement["Effect"] == "Allow"
        and isinstance(principal, dict)
        and str(principal.get("AWS", {})).find(":root") > 0
    )


def test_no_wildcard_actions_anywhere_after_the_transform() -> None:
    found = []
    for logical, resource in transformed()["Resources"].items():
        for statement in statements(resource):
            if statement["Effect"] == "Deny" or _is_key_admin_delegation(statement):
                continue
            found += [(logical, a) for a in listify(statement["Action"]) if "*" in str(a)]
    assert found == []


# Actions that name no resource (Service Authorization Reference: no resource types), so "*":
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html
NO_RESOURCE_TYPES = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_no_role_statement_allows_every_resource() -> None:
    out = transformed()["Resources"]
    for logical in of_type("AWS::IAM::Role", out):
        for statement in policy_statements(logical, out):
            if set(listify(statement["Action"])) <= NO_RESOURCE_TYPES:
                continue
            assert "*" not in listify(statement.get("Resource")), (logical, statement)


def test_functions_never_write_or_delete_mails() -> None:
    for name in FUNCTIONS:
        writes = {
            a
            for a in actions_of(name)
            if a.startswith("s3:")
            and "Tagging" not in a
            and (a.startswith(("s3:Put", "s3:Delete", "s3:Restore", "s3:Abort")))
        }
        assert writes == set(), name


def test_each_function_gets_only_what_it_uses() -> None:
    table = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    # every function: its own queue polled (no managed AWSLambdaSQSQueueExecutionRole), its own
    # log group written (no logs:CreateLogGroup: the template makes it), traces
    common = {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",  # a failed record's backoff
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "kms:Decrypt",  # SecretsKmsKeyArn via Secrets Manager, BucketKmsKeyArns via S3
    }
    sns = actions_of("SnsUploaderFunction")
    assert sns == table | common | {
        "secretsmanager:GetSecretValue",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
    }
    s3 = actions_of("S3UploaderFunction")
    assert s3 == table | common | {
        "secretsmanager:GetSecretValue",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
    }
    scanner = actions_of(SCANNER)
    # no DeleteItem (claims are released by an update), no GetObjectVersion (current objects only)
    assert scanner == common | {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetObjectTagging",
        "s3:PutObjectTagging",
        "ses:SendEmail",
        "sqs:SendMessage",  # a cut sweep's continuation, on its own queue only
    }
    queues = {"SnsUploaderFunction": "SnsUploaderQueue", "S3UploaderFunction": "S3UploaderQueue"}
    for name, queue in {**queues, SCANNER: "OversizeScannerQueue"}.items():
        for statement in role_statements(name):
            if any(str(a).startswith("sqs:") for a in listify(statement["Action"])):
                assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}, name
            if any(str(a).startswith("logs:") for a in listify(statement["Action"])):
                assert statement["Resource"] == {"Fn::GetAtt": [name.replace("Function", "LogGroup"), "Arn"]}
    for name in UPLOADERS:
        (secret,) = [
            s for s in role_statements(name) if "secretsmanager:GetSecretValue" in listify(s["Action"])
        ]
        assert secret["Resource"] == {"Ref": "ApiKeySecretArn"}
    (ses,) = [s for s in role_statements(SCANNER) if "ses:SendEmail" in listify(s["Action"])]
    (from_address,) = ses["Condition"]["StringEquals"].values()
    assert set(ses["Condition"]["StringEquals"]) == {"ses:FromAddress"}
    # SES compares the bare address (the display name is ses:FromDisplayName)
    for notify_from in ("notices@acme.com", "Mail Notices <notices@acme.com>", "<notices@acme.com>"):
        resolver = Resolver(TEMPLATE, {"NotifyFrom": notify_from})
        assert resolver.value(from_address) == "notices@acme.com", notify_from
    assert {r["Fn::Sub"].split(":")[-1].split("/")[0] for r in listify(ses["Resource"])} == {
        "identity",
        "configuration-set",  # SES also checks an identity's default configuration set
    }
    for name in FUNCTIONS:
        for statement in role_statements(name):
            if any(str(a).startswith("dynamodb:") for a in listify(statement["Action"])):
                assert statement["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    for name in FUNCTIONS:
        kms = {
            json.dumps(s["Resource"]): s["Condition"]
            for s in role_statements(name)
            if "kms:Decrypt" in listify(s["Action"])
        }
        # an SSE-KMS external, scanned or payload bucket: only through S3 (the download function's
        # presigned GET is signed by its role, so S3 asks that role for the key too)
        wanted = {
            json.dumps({"Fn::Split": [",", {"Ref": "BucketKmsKeyArns"}]}): {
                "StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}
            }
        }
        if name in UPLOADERS:  # the API key's secret; the scanner and the download read no secret
            wanted[json.dumps({"Ref": "SecretsKmsKeyArn"})] = {
                "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}
            }
        assert kms == wanted, name


def _dynamodb_calls(source: Path) -> set[str]:
    """The IAM actions of the DynamoDB client methods that ``source`` calls (``x.put_item(...)``)."""
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    operations: dict[str, str] = client.meta.method_to_api_mapping
    tree = ast.parse(source.read_text(encoding="utf-8"))
    return {
        f"dynamodb:{operations[node.func.attr]}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in operations
    }


def test_roles_allow_every_dynamodb_call_the_code_makes() -> None:
    """Read from the code that runs, not from a list kept by hand: the scanner's state adapter and
    the Powertools idempotency layer the uploaders use."""
    import aws_lambda_powertools.utilities.idempotency.persistence.dynamodb as idempotency

    core = ROOT / "layers/core/vaultmail"
    scanner_calls: set[str] = set()
    for source in [*sorted((core / "state").glob("*.py")), core / "scanner" / "passes.py"]:
        scanner_calls |= _dynamodb_calls(source)
    assert "dynamodb:BatchGetItem" in scanner_calls  # the walk finds what it should
    assert scanner_calls <= actions_of(SCANNER)
    uploader_calls = _dynamodb_calls(Path(idempotency.__file__))
    assert {"dynamodb:GetItem", "dynamodb:PutItem"} <= uploader_calls
    for name in UPLOADERS:
        assert uploader_calls <= actions_of(name), name


def test_the_api_key_is_never_a_parameter_or_plain_environment() -> None:
    assert [p for p in PARAMETERS if "apikey" in p.lower()] == ["ApiKeySecretArn"]
    assert PARAMETERS["ApiKeySecretArn"]["AllowedPattern"].startswith("^arn:aws")
    for name in FUNCTIONS:
        env = props(name, transformed()["Resources"])["Environment"]["Variables"]
        assert not NOT_IN_LAMBDA & set(env), name


# ---- settings ----------------------------------------------------------------------------------


def test_environment_names_of_design_md_per_function() -> None:
    out = transformed()["Resources"]
    for name in FUNCTIONS:
        env = props(name, out)["Environment"]["Variables"]
        missing = _expected_env(name) - set(env)
        assert not missing, (name, missing)
        assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= set(env)
        assert env["POWERTOOLS_SERVICE_NAME"] == "vaultmail"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Vaultmail"
    scanner = props(SCANNER, out)["Environment"]["Variables"]
    for name in (SCANNER, DOWNLOAD):  # only the uploaders talk to the upload API
        env = props(name, out)["Environment"]["Variables"]
        assert not {"API_KEY_SECRET_ARN", "API_ENDPOINT_URL", "PRIMARY_DOMAIN"} & set(env), name
    assert {"SCAN_SUFFIXES", "ALLOWED_RECIPIENT_DOMAINS"} <= set(scanner)
    assert "SIGNING_SECRET_ARN" not in scanner  # the template's links go through DownloadFunction
    assert scanner["LINK_BASE_URL"] == {"Fn::GetAtt": ["DownloadFunctionUrl", "FunctionUrl"]}
    assert scanner["MAIL_BUCKET"] == {
        "Fn::If": ["ScansOwnBucket", {"Ref": "MailBucket"}, {"Ref": "ScanBucketName"}]
    }


def test_settings_table_matches_design_md() -> None:
    if not DESIGN.exists():
        pytest.skip(f"{DESIGN} not found: the settings table was checked against the copy in this test only")
    rows = re.findall(r"^\|\s*`([A-Z_]+)`\s*\|\s*([^|]+?)\s*\|", DESIGN.read_text(), re.MULTILINE)
    assert dict(rows) == DESIGN_SETTINGS


def test_every_parameter_is_in_the_readme_deploy_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([A-Z][A-Za-z0-9]+)`", row.split("|")[1])}
    assert set(PARAMETERS) - documented == set()


def test_parameter_defaults_and_bounds() -> None:
    p = PARAMETERS
    assert p["LinkExpirySeconds"]["MaxValue"] == 7776000 and p["LinkExpirySeconds"]["Default"] == 1209600
    assert p["DownloadConcurrency"]["Default"] == 5 and "SigningSecretArn" not in p
    assert p["SizeThresholdBytes"]["Default"] == 40000000
    assert p["ScanSuffixes"]["Default"] == ".eml"
    assert p["LogLevel"]["Default"] == "INFO"
    for optional in (
        "AdminEmail",
        "ScanBucketName",
        "ScanPrefixes",
        "AllowedRecipientDomains",
        "ExternalMailBucketName",
        "AlarmEmail",
    ):
        assert p[optional]["Default"] == "", optional
    for name, spec in p.items():
        assert spec.get("Description"), name


def test_outputs() -> None:
    assert {
        "MailTopicArn",
        "MailBucketName",
        "StateTableName",
        "SnsUploaderQueueUrl",
        "SnsUploaderQueueArn",
        "SnsUploaderDlqUrl",
        "SnsUploaderDlqArn",
        "SnsUploaderDlqName",
        "S3UploaderQueueUrl",
        "S3UploaderQueueArn",
        "S3UploaderDlqUrl",
        "S3UploaderDlqArn",
        "S3UploaderDlqName",
        "SnsUploaderFunctionName",
        "SnsUploaderFunctionArn",
        "S3UploaderFunctionName",
        "S3UploaderFunctionArn",
        "OversizeScannerFunctionName",
        "OversizeScannerFunctionArn",
        "BatchOperationsRoleArn",
        "CoreLayerArn",
    } <= set(TEMPLATE["Outputs"])


# ---- samconfig.toml and events/ ------------------------------------------------------------------


def test_samconfig() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    default = config["default"]
    assert default["global"]["parameters"]["stack_name"] == "vaultmail"
    assert default["build"]["parameters"] == {"cached": True, "parallel": True}
    assert default["validate"]["parameters"]["lint"] is True
    deploy = default["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True and deploy["resolve_s3"] is True
    assert deploy["s3_prefix"] == "vaultmail"


def test_every_sample_event_is_json_and_documented() -> None:
    events = ROOT / "events"
    files = sorted(p.name for p in events.glob("*.json"))
    readme = (events / "README.md").read_text()
    listed = set(re.findall(r"^\|\s*`([^`]+\.json)`", readme, re.MULTILINE))
    assert listed == set(files)
    for name in files:
        json.loads((events / name).read_text())


# ---- sam build -------------------------------------------------------------------------------------


def _elf_machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", path
    return int(struct.unpack("<H", head[18:20])[0])


def test_sam_build_output() -> None:
    built = build()
    layer = built / "CoreLayer" / "python"
    for package in ("vaultmail/__init__.py", "aws_lambda_powertools", "requests", "requests_toolbelt"):
        assert (layer / package).exists(), package
    assert not (layer / "vaultmail_dev").exists()  # the dev-only package stays out of the layer
    assert not (layer / "boto3").exists() and not (layer / "botocore").exists()  # from the runtime
    for extension in layer.rglob("*.so"):  # compiled wheels for the Lambda's arm64 and CPython 3.13
        assert "cpython-313" in extension.name or "abi3" in extension.name, extension
        assert _elf_machine(extension) == 0xB7, f"{extension} is not AArch64"
    for name, source in (
        ("SnsUploaderFunction", "sns_uploader"),
        ("S3UploaderFunction", "s3_uploader"),
        ("OversizeScannerFunction", "oversize_scanner"),
        ("DownloadFunction", "download"),
    ):
        files = {p.name for p in (built / name).iterdir() if p.name != "__pycache__"}
        assert files == {"app.py", "requirements.txt"}, (name, files)  # handlers stay thin
        assert (built / name / "app.py").read_bytes() == (ROOT / "functions" / source / "app.py").read_bytes()
    built_template = yaml_parse((built / "template.yaml").read_text())
    for name in FUNCTIONS:
        assert built_template["Resources"][name]["Properties"]["CodeUri"] == name
    assert built_template["Resources"]["CoreLayer"]["Properties"]["ContentUri"] == "CoreLayer"


def _pins(requirements: Path) -> dict[str, str]:
    """``name -> version`` of a hashed requirements file (names normalized as PEP 503 says)."""
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)", requirements.read_text(), re.MULTILINE)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins}


def test_the_built_layer_holds_exactly_the_locked_versions() -> None:
    layer = build() / "CoreLayer" / "python"
    installed = {}
    for dist in layer.glob("*.dist-info"):
        name, version = dist.name.removesuffix(".dist-info").rsplit("-", 1)
        installed[re.sub(r"[-_.]+", "-", name).lower()] = version
    assert installed == _pins(ROOT / "layers" / "core" / "requirements.txt")


def test_every_environment_variable_is_in_the_settings_table() -> None:
    # The table moved from the README's "## Settings" to docs/settings.md (issue 18).
    page = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    for name in FUNCTIONS:
        env = set(props(name, transformed()["Resources"])["Environment"]["Variables"])
        missing = {v for v in env if v not in documented and not v.startswith("POWERTOOLS_")}
        assert missing == set(), (name, missing)


# ---- download links --------------------------------------------------------------------------------


def test_download_function_behind_a_public_function_url_with_a_small_reserved_concurrency() -> None:
    fn = props(DOWNLOAD)
    assert fn["FunctionUrlConfig"]["AuthType"] == "NONE"  # the token is the credential
    assert fn["ReservedConcurrentExecutions"] == {"Ref": "DownloadConcurrency"}
    assert PARAMETERS["DownloadConcurrency"]["Default"] <= 10
    url = {"Fn::GetAtt": ["DownloadFunctionUrl", "FunctionUrl"]}
    assert TEMPLATE["Outputs"]["DownloadUrl"]["Value"] == url
    out = transformed()["Resources"]
    urls = of_type("AWS::Lambda::Url", out)
    assert [u["Properties"]["TargetFunctionArn"] for u in urls.values()] == [{"Ref": DOWNLOAD}]
    # SAM makes both permissions a public URL needs since October 2025 (lambda:InvokeFunctionUrl,
    # and lambda:InvokeFunction only when invoked via the URL: urls-auth.html); none by hand
    invokes = {
        p["Properties"]["Action"]: p["Properties"]
        for p in of_type("AWS::Lambda::Permission", out).values()
        if p["Properties"]["FunctionName"] == {"Ref": DOWNLOAD}
    }
    assert invokes["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
    assert invokes["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert not of_type("AWS::Lambda::Permission")
    assert "DownloadLogGroup" in RESOURCES


def test_download_function_reads_link_items_and_the_scanned_mails_only() -> None:
    assert actions_of(DOWNLOAD) == {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",  # the scanned bucket: a deleted mail is 404 (410 page), not 403
        "logs:CreateLogStream",  # its own log group only (below)
        "logs:PutLogEvents",
        "xray:PutTraceSegments",  # Tracing: Active; these name no resource
        "xray:PutTelemetryRecords",
        "kms:Decrypt",  # only with BucketKmsKeyArns, only through S3 (test_each_function_gets_only...)
    }
    (logs,) = [s for s in role_statements(DOWNLOAD) if "logs:PutLogEvents" in listify(s["Action"])]
    assert logs["Resource"] == {"Fn::GetAtt": ["DownloadLogGroup", "Arn"]}
    (table,) = [s for s in role_statements(DOWNLOAD) if "dynamodb:GetItem" in listify(s["Action"])]
    assert table["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["link#*"]}}
    (objects,) = [s for s in role_statements(DOWNLOAD) if "s3:GetObject" in listify(s["Action"])]
    resolver = Resolver(TEMPLATE, {"ScanBucketName": "archive"})
    assert resolver.value(objects["Resource"]) == "arn:aws:s3:::archive/*"
    core = ROOT / "layers/core/vaultmail"
    assert _dynamodb_calls(core / "links" / "store.py") <= actions_of(SCANNER) | {"dynamodb:Scan"}
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"} <= _dynamodb_calls(
        core / "links" / "store.py"
    )
