"""Issue 20 on the template as SAM transforms it: each role holds only its own queue, table items
and buckets; who may publish to the mail topic; where SES may write and a pointer may point;
TLS-only queues and topic (design.md "Trust boundaries (fixed)"; SECURITY.md)."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from vaultmail.pointers import parse_locations
from vaultmail_dev.stack import Resolver

from .test_template import (
    FUNCTIONS,
    PARAMETERS,
    SCANNER,
    TEMPLATE,
    UPLOADERS,
    listify,
    of_type,
    policy_statements,
    props,
    role_statements,
    statements,
    transformed,
)

SQS_MANAGED = ("AWSLambdaSQSQueueExecutionRole", "AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess")


def test_no_role_has_a_managed_policy_granting_sqs_on_every_queue() -> None:
    out = transformed()["Resources"]
    for logical, role in of_type("AWS::IAM::Role", out).items():
        managed = json.dumps(role["Properties"].get("ManagedPolicyArns", []))
        assert "AWSLambdaSQSQueueExecutionRole" not in managed, logical
    for name in FUNCTIONS:  # the stack's own roles, no managed policy at all
        assert props(name, out)["Role"] == {"Fn::GetAtt": [f"{name}Role", "Arn"]}
        assert "ManagedPolicyArns" not in out[f"{name}Role"]["Properties"], name
        for statement in role_statements(name):
            if any(str(a).startswith("sqs:") for a in listify(statement["Action"])):
                assert "*" not in json.dumps(statement["Resource"]), (name, statement)
    assert not any("logs:CreateLogGroup" in json.dumps(r) for r in out.values())


def _table_statements(statements_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements_ if any(str(a).startswith("dynamodb:") for a in listify(s["Action"]))]


def test_every_roles_table_statement_has_a_leading_keys_condition() -> None:
    out = transformed()["Resources"]
    found = 0
    for logical in of_type("AWS::IAM::Role", out):
        for statement in _table_statements(policy_statements(logical, out)):
            found += 1
            assert statement["Effect"] == "Allow"
            assert set(statement["Condition"]) == {"ForAllValues:StringLike"}, logical
            assert set(statement["Condition"]["ForAllValues:StringLike"]) == {"dynamodb:LeadingKeys"}
    assert found == len(FUNCTIONS)


def leading_keys(function: str, resolver: Resolver) -> list[str]:
    (statement,) = _table_statements(role_statements(function))
    return [
        str(p)
        for p in listify(
            resolver.value(statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
        )
    ]


def allowed(patterns: list[str], key: str) -> bool:
    """IAM's StringLike: ``*`` and ``?`` are wildcards, everything else literal (no ``[...]``)."""
    return any(fnmatch.fnmatchcase(key, p.replace("[", "[[]")) for p in patterns)


def test_leading_keys_give_each_function_its_own_items_only() -> None:
    resolver = Resolver(TEMPLATE, {})
    # the physical names CloudFormation generates, as Powertools reads them (AWS_LAMBDA_FUNCTION_NAME)
    resolver.physical.update(
        {
            "SnsUploaderFunction": {"Ref": "prod-SnsUploaderFunction-AbCdEf123456"},
            "S3UploaderFunction": {"Ref": "prod-S3UploaderFunction-ZyXwVu654321"},
        }
    )
    sns, s3, scanner = (leading_keys(f, resolver) for f in (*UPLOADERS, SCANNER))
    assert sns == ["prod-SnsUploaderFunction-AbCdEf123456.*"]
    assert scanner == ["notice#*", "cursor#*", "link#*"]
    owners = {
        # today's layouts (vaultmail.state.items, Powertools' "<function>.<handler>#<hash>")
        "prod-SnsUploaderFunction-AbCdEf123456.vaultmail.runtime._idempotent_run.<locals>.run_once#0d": sns,
        "prod-S3UploaderFunction-ZyXwVu654321.vaultmail.runtime._idempotent_run.<locals>.run_once#0d": s3,
        "notice#mail-bucket#in/big.eml#9b2cf535f27731c974343645a3985328": scanner,
        "cursor#mail-bucket#": scanner,
        "link#" + "ab" * 32: scanner,
    }
    for key, owner in owners.items():
        for patterns in (sns, s3, scanner):
            assert allowed(patterns, key) is (patterns is owner), (key, patterns)


def test_mail_topic_policy_ses_of_this_account_and_the_listed_principals_only() -> None:
    (policy,) = of_type("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "MailTopic"}]
    listed = "arn:aws:iam::111122223333:role/publisher,arn:aws:iam::123456789012:role/mailer-*"
    for publishers in ("", listed):
        document = Resolver(TEMPLATE, {"TopicPublisherArns": publishers}).value(
            policy["Properties"]["PolicyDocument"]
        )
        allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
        denies = {s["Sid"]: s for s in document["Statement"] if s["Effect"] == "Deny"}
        ses = allows[0]
        assert ses["Principal"] == {"Service": "ses.amazonaws.com"} and ses["Action"] == "sns:Publish"
        assert ses["Condition"] == {
            "StringEquals": {"aws:SourceAccount": "123456789012"},
            # receipt rules only, not the account's other SES notifications
            "ArnLike": {"aws:SourceArn": "arn:aws:ses:us-east-1:123456789012:receipt-rule-set/*"},
        }
        nobody_else = denies["NobodyElsePublishes"]
        assert nobody_else["Principal"] == "*" and nobody_else["Action"] == "sns:Publish"
        assert nobody_else["Condition"]["Bool"] == {"aws:PrincipalIsAWSService": "false"}
        if publishers:
            # by aws:PrincipalArn: a Principal element takes no partial wildcard (role/mailer-*)
            assert allows[1]["Principal"] == {"AWS": "*"}
            assert allows[1]["Condition"] == {"ArnLike": {"aws:PrincipalArn": publishers.split(",")}}
            assert nobody_else["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": publishers.split(",")}
        else:
            assert len(allows) == 1 and set(nobody_else["Condition"]) == {"Bool"}
        assert denies["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_queues_and_topic_deny_plain_http() -> None:
    queues = set(of_type("AWS::SQS::Queue"))
    covered: set[str] = set()
    for policy in of_type("AWS::SQS::QueuePolicy").values():
        document = policy["Properties"]["PolicyDocument"]
        (deny,) = [s for s in statements(document) if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and deny["Principal"] == "*"
        covered |= {q["Ref"] for q in policy["Properties"]["Queues"]}
    assert covered == queues


def test_pointer_locations_and_the_sns_uploaders_reads_agree() -> None:
    assert PARAMETERS["SesKeyPrefixes"]["Default"] == "ses/"
    for params, expected in [
        ({}, ["vaultmail-local-payloads/", "vaultmail-local-mail-123456789012-us-east-1/ses/"]),
        ({"SesKeyPrefixes": "ses/,in/a/,b,c/,d/"}, None),
        ({"SesKeyPrefixes": "", "PayloadBucketName": ""}, []),
    ]:
        parameters = {"PayloadBucketName": "vaultmail-local-payloads", **params}
        resolver = Resolver(TEMPLATE, parameters)
        resolver.physical["MailBucket"] = {
            "Ref": "vaultmail-local-mail-123456789012-us-east-1",
            "Arn": "arn:aws:s3:::vaultmail-local-mail-123456789012-us-east-1",
        }
        env = resolver.value(props("SnsUploaderFunction")["Environment"]["Variables"]["POINTER_LOCATIONS"])
        locations = parse_locations(e for e in env.split(",") if e)
        if expected is not None:
            assert [str(loc) for loc in locations] == expected
        else:
            assert len(locations) == 6
        reads = [
            s
            for s in resolver.value(role_statements("SnsUploaderFunction"))
            if s and "s3:GetObject" in listify(s["Action"])
        ]
        resources = [r for s in reads for r in listify(s["Resource"])]
        # the role may read exactly the pointer locations: arn:aws:s3:::bucket/prefix*
        assert sorted(resources) == sorted(f"arn:aws:s3:::{loc.bucket}/{loc.prefix}*" for loc in locations)
        bucket_policy = resolver.value(props("MailBucketPolicy")["PolicyDocument"])
        ses = next(s for s in bucket_policy["Statement"] if s["Principal"] != "*")
        assert ses["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":receipt-rule-set/*:receipt-rule/*")
        mail_prefixes = [loc.prefix for loc in locations if loc.bucket.startswith("vaultmail-local-mail")]
        if mail_prefixes:  # SES writes where the pointers may point, nowhere else
            assert sorted(listify(ses["Resource"])) == sorted(
                f"arn:aws:s3:::vaultmail-local-mail-123456789012-us-east-1/{p}*" for p in mail_prefixes
            )


def test_topic_key_and_inventory_statements_name_this_account() -> None:
    key_statements = {s.get("Sid"): s for s in props("TopicKey")["KeyPolicy"]["Statement"]}
    services = key_statements["SesAndCloudWatchPublishToTheStackTopics"]
    assert services["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    (inventory,) = [
        s
        for s in props("BatchReportsBucketPolicy")["PolicyDocument"]["Statement"]
        if s.get("Sid", "").startswith("S3Inventory")
    ]
    assert inventory["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert {"Fn::GetAtt": ["MailBucket", "Arn"]} in inventory["Condition"]["ArnLike"]["aws:SourceArn"]


def test_api_endpoint_is_https_only() -> None:
    import re

    pattern = re.compile(PARAMETERS["ApiEndpointUrl"]["AllowedPattern"])
    assert pattern.match("https://api.vaultastic.example/") and not pattern.match("http://api.example/")


def test_the_topic_key_lets_the_listed_publishers_through_sns_only() -> None:
    """A listed publisher of another account must encrypt with the topic key: the key policy,
    which the stack owns, names them (by aws:PrincipalArn), only through SNS."""
    key = TEMPLATE["Resources"]["TopicKey"]["Properties"]["KeyPolicy"]
    listed = "arn:aws:iam::111122223333:role/mailer-*,arn:aws:iam::444455556666:*"
    for publishers in ("", listed):
        document = Resolver(TEMPLATE, {"TopicPublisherArns": publishers}).value(key)
        found = [s for s in document["Statement"] if s.get("Sid") == "ListedPublishersThroughSns"]
        if not publishers:
            assert found == []
            continue
        (statement,) = found
        assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Condition"] == {
            "StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"},
            "ArnLike": {"aws:PrincipalArn": listed.split(",")},
        }
