"""The local stack's IAM check on today's moto: a role holding AWS's S3 action names works.

moto 5.2.6 started to check S3 calls under their API operation's name (``s3:ListObjectsV2``)
instead of IAM's (``s3:ListBucket``); the template keeps IAM's names, and
``vaultmail_dev.iam`` grants both. These tests run the calls the functions make under a role
built the way the local stack builds it, with IAM enforced, whatever moto is installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from vaultmail_dev import iam, servers

BUCKET = "vaultmail-iam-check"
OTHER = "vaultmail-iam-other"
STATEMENTS = [
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
    {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:PutObjectTagging"],
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    },
]


@pytest.fixture
def role_s3(aws_env: dict[str, str], moto_server: servers.MotoHandle) -> Iterator[Any]:
    """An S3 client with the role's credentials, IAM enforced until the test ends."""
    s3 = boto3.client("s3")
    for name in (BUCKET, OTHER):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="in/a.eml", Body=b"Subject: x\r\n\r\nbody\r\n")
    documents = iam.function_policies([{"Statement": STATEMENTS}], lambda value: value)
    with enforced_s3(moto_server, "vaultmail-iam-check", documents) as client:
        yield client


@contextlib.contextmanager
def enforced_s3(moto_server: servers.MotoHandle, role: str, documents: list[Any]) -> Iterator[Any]:
    """An S3 client with the credentials of role ``role`` (``documents``), IAM enforced inside."""
    creds = iam.role_credentials(boto3.client("iam"), boto3.client("sts"), role, documents, "123456789012")
    client = boto3.client(
        "s3",
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
    )
    previous = iam.set_enforcement(moto_server.url, 0)
    try:
        yield client
    finally:
        iam.set_enforcement(moto_server.url, previous)


def test_the_roles_s3_actions_allow_the_calls_the_functions_make(role_s3: Any) -> None:
    pages = role_s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="in/")
    listed = pages.build_full_result()
    assert [o["Key"] for o in listed["Contents"]] == ["in/a.eml"]
    assert role_s3.head_object(Bucket=BUCKET, Key="in/a.eml")["ContentLength"] > 0
    ranged = role_s3.get_object(Bucket=BUCKET, Key="in/a.eml", Range="bytes=0-9")
    assert ranged["Body"].read() == b"Subject: x"
    role_s3.put_object_tagging(
        Bucket=BUCKET, Key="in/a.eml", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    assert role_s3.get_object_tagging(Bucket=BUCKET, Key="in/a.eml")["TagSet"] == [{"Key": "k", "Value": "v"}]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s3: s3.list_objects_v2(Bucket=OTHER), id="list another bucket"),
        pytest.param(lambda s3: s3.head_object(Bucket=OTHER, Key="in/a.eml"), id="head another bucket"),
        pytest.param(lambda s3: s3.put_object(Bucket=BUCKET, Key="in/b.eml", Body=b"x"), id="write"),
        pytest.param(lambda s3: s3.delete_object(Bucket=BUCKET, Key="in/a.eml"), id="delete"),
    ],
)
def test_what_the_role_does_not_name_is_still_refused(role_s3: Any, call: Any) -> None:
    with pytest.raises(ClientError) as caught:
        call(role_s3)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_each_iam_action_is_granted_with_the_operations_it_authorizes() -> None:
    granted = iam.s3_operations(["s3:ListBucket", "s3:GetObjectVersion"])
    assert granted[:2] == ["s3:ListBucket", "s3:GetObjectVersion"]
    assert {"s3:ListObjectsV2", "s3:HeadBucket", "s3:GetObject", "s3:HeadObject"} <= set(granted)
    assert len(granted) == len(set(granted))
    assert iam.s3_operations(["s3:PutObjectTagging"]) == ["s3:PutObjectTagging"]


# ---- the template's own roles (issue 20): read from Role and its role policies, enforced on moto ----


def test_the_local_stack_reads_each_functions_role_and_its_attached_policies() -> None:
    from vaultmail_dev.stack import load_template

    template = load_template()
    for function in ("SnsUploaderFunction", "S3UploaderFunction", "OversizeScannerFunction"):
        documents = iam.role_documents(template, function)
        sids = {s.get("Sid") for d in documents for s in d["Statement"] if isinstance(s, dict)}
        assert {"PollItsOwnQueue", "WriteItsOwnLogs"} <= sids, function
    # the uploaders' table statement lives in the policy made after the function (it names it)
    sns_sids = {
        s.get("Sid") for d in iam.role_documents(template, "SnsUploaderFunction") for s in d["Statement"]
    }
    assert "StateTableItsOwnRecords" in sns_sids
    # a function with SAM Policies and no Role keeps working
    plain = {"Resources": {"F": {"Properties": {"Policies": [{"Statement": STATEMENTS}]}}}}
    assert iam.role_documents(plain, "F") == [{"Statement": STATEMENTS}]


@pytest.fixture
def sns_uploader_s3(aws_env: dict[str, str], moto_server: servers.MotoHandle) -> Iterator[Any]:
    """An S3 client with the SNS uploader's role as the local stack builds it, IAM enforced."""
    from vaultmail_dev.stack import Resolver, load_template

    s3 = boto3.client("s3")
    for name in (BUCKET, "vaultmail-local-payloads"):
        s3.create_bucket(Bucket=name)
    for key in ("ses/abc", "private/ceo-board.eml"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"Subject: x\r\n\r\nbody\r\n")
    s3.put_object(Bucket="vaultmail-local-payloads", Key="any/one.eml", Body=b"Subject: y\r\n\r\n")
    template = load_template()
    resolver = Resolver(template, {"PayloadBucketName": "vaultmail-local-payloads"})
    resolver.physical["MailBucket"] = {"Ref": BUCKET, "Arn": f"arn:aws:s3:::{BUCKET}"}
    documents = iam.function_policies(iam.role_documents(template, "SnsUploaderFunction"), resolver.value)
    with enforced_s3(moto_server, "vaultmail-sns", documents) as client:
        yield client


def test_the_sns_uploaders_role_reads_the_pointer_locations_and_nothing_else(sns_uploader_s3: Any) -> None:
    assert sns_uploader_s3.get_object(Bucket=BUCKET, Key="ses/abc")["Body"].read().startswith(b"Subject")
    assert (
        sns_uploader_s3.get_object(Bucket="vaultmail-local-payloads", Key="any/one.eml")["ContentLength"] > 0
    )
    with pytest.raises(ClientError) as caught:
        sns_uploader_s3.get_object(Bucket=BUCKET, Key="private/ceo-board.eml")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
