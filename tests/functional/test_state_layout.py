"""Issue 20 scoped each role to its own state items (dynamodb:LeadingKeys) without moving any
key: state written by the code before the change (fixtures/state/before-issue-20.json, made by
make_state_fixture.py on commit d978091) is read by today's code, and each item stays inside
its owner's LeadingKeys pattern. Nobody told twice, nothing archived twice."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from vaultmail import runtime
from vaultmail_dev.stack import Resolver, sns_event

from .fixtures.state.make_state_fixture import (
    FUNCTION_NAME,
    MAIL_KEY,
    MAIL_SIZE,
    MESSAGE_ID,
    SUBJECT,
    TOPIC,
)
from .lambdas import FakeContext, LambdaWorld, load_handler
from .test_scanner import TABLE, RecordingSes, World, create_world, make_mail
from .test_template import SCANNER, TEMPLATE, UPLOADERS, listify, role_statements

STATE = Path(__file__).parent / "fixtures" / "state"
BEFORE: dict[str, Any] = json.loads((STATE / "before-issue-20.json").read_text())
SNS_APP = load_handler("sns_uploader")


def load_items(ddb: Any, table: str) -> None:
    for item in BEFORE["items"]:
        ddb.put_item(TableName=table, Item=item)


@pytest.fixture
def world(aws_env: Any, moto_server: Any) -> World:
    return create_world(moto_server.url)


def test_notice_claims_written_before_the_change_tell_nobody_twice(world: World) -> None:
    load_items(world.ddb, TABLE)
    world.put(MAIL_KEY, make_mail(MAIL_SIZE, subject=SUBJECT))  # the same bytes, so the same ETag
    ses = RecordingSes(world.ses)
    result = world.scanner(ses=ses).run()
    assert (result.stats.oversize, result.stats.notified, result.stats.already_notified) == (1, 0, 1)
    assert ses.notices() == []


def test_idempotency_records_written_before_the_change_archive_nothing_twice(
    lambda_world: LambdaWorld, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_items(boto3.client("dynamodb"), lambda_world.table)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
    monkeypatch.setenv("PRIMARY_DOMAIN", "acme.com")
    runtime.reset()
    message = (STATE / "sns-message.eml").read_text()
    event = sns_event({"MessageId": MESSAGE_ID, "TopicArn": TOPIC, "Message": message}, {})
    (result,) = SNS_APP.lambda_handler(event, FakeContext())["results"]
    assert result["status"] == "archived"  # the stored outcome, replayed
    assert emulator.records() == []  # no upload this time


def test_each_item_written_before_the_change_lies_in_its_owners_leading_keys() -> None:
    resolver = Resolver(TEMPLATE, {})
    resolver.physical["SnsUploaderFunction"] = {"Ref": FUNCTION_NAME}
    resolver.physical["S3UploaderFunction"] = {"Ref": "vaultmail-S3UploaderFunction-Zz99Yy88"}
    patterns = {}
    for function in (*UPLOADERS, SCANNER):
        (statement,) = [
            s
            for s in role_statements(function)
            if any(str(a).startswith("dynamodb:") for a in listify(s["Action"]))
        ]
        keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        patterns[function] = [str(p) for p in listify(resolver.value(keys))]
    owners = {"notice#": SCANNER, "cursor#": SCANNER, FUNCTION_NAME + ".": "SnsUploaderFunction"}
    assert len(BEFORE["items"]) == 3
    for item in BEFORE["items"]:
        key = item["id"]["S"]
        (owner,) = [o for prefix, o in owners.items() if key.startswith(prefix)]
        for function, allowed in patterns.items():
            # IAM's StringLike: only * and ? are wildcards ("[" is literal)
            matched = any(fnmatch.fnmatchcase(key, p.replace("[", "[[]")) for p in allowed)
            assert matched is (function == owner), (key, function, allowed)
