"""The template's IAM roles, checked by moto: a local function may do only what its role allows.

moto checks IAM when ``INITIAL_NO_AUTH_ACTION_COUNT`` is reached (``/moto-api/reset-auth``):
every request must then be signed with a key of a user or an assumed role of moto's IAM, and
its action must be allowed by that principal's policies. The local stack creates, before it
turns the check on:

* a harness user allowed everything, for the stack itself (creating resources, delivering
  events, reading dead-letter queues) and the upload API emulator;
* one role per function carrying the statements of the function's role in template.yaml
  (:func:`role_documents`: its ``Role`` and the role policies attached to it, or SAM
  ``Policies``), and the temporary credentials of that role, which the function's process gets,
  as on Lambda.

What moto checks, and so what this proves: the **actions** of every AWS call a function makes,
and the **resources** of its S3 calls (``arn:aws:s3:::bucket/key``). moto evaluates other
services' calls against the resource ``*`` and evaluates no condition keys, so for those the
statements are checked with ``Resource: "*"`` and without ``Condition`` (the template tests
check resources and conditions statically). moto cannot check presigned URLs under IAM
(``KeyError: HTTP_AUTHORIZATION`` in 5.x): :func:`paused` lets a link be fetched.

Which name moto checks an S3 call under changed in moto 5.2.6. Up to 5.2.5, ``_get_action``
read the ``Action`` that ``S3Response._set_action`` derives from its ``ACTION_MAP`` (IAM's
names: a ``GET /bucket?list-type=2`` was ``s3:ListBucket``). From 5.2.6,
``BaseResponse._get_action`` asks botocore's router for the **API operation** instead, so the
same request is checked as ``s3:ListObjectsV2``, a HEAD of an object as ``s3:HeadObject``: names
no IAM policy in AWS uses. The template must keep AWS's names, so :func:`_for_moto` grants each
S3 statement's IAM actions together with the API operations AWS authorizes by them
(:data:`S3_OPERATIONS`, from AWS's "Required permissions for Amazon S3 API operations"): right
for every moto, before and after the change.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import requests

ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
OFF = float("inf")

# IAM action -> the S3 API operations it authorizes (Amazon S3 API Reference, each operation's
# "Permissions"; Service Authorization Reference for Amazon S3). moto >= 5.2.6 checks the
# operation's name; older moto checks the IAM action: a statement is granted under both.
S3_OPERATIONS: dict[str, tuple[str, ...]] = {
    "s3:ListBucket": ("s3:ListObjects", "s3:ListObjectsV2", "s3:HeadBucket"),
    "s3:ListBucketVersions": ("s3:ListObjectVersions",),
    "s3:ListBucketMultipartUploads": ("s3:ListMultipartUploads",),
    "s3:ListMultipartUploadParts": ("s3:ListParts",),
    "s3:GetObject": ("s3:HeadObject", "s3:GetObjectAttributes"),
    # a GET or HEAD with ?versionId= is authorized by GetObjectVersion; moto names it GetObject
    "s3:GetObjectVersion": ("s3:GetObject", "s3:HeadObject", "s3:GetObjectAttributes"),
    "s3:GetObjectVersionTagging": ("s3:GetObjectTagging",),
    "s3:PutObjectVersionTagging": ("s3:PutObjectTagging",),
    "s3:PutObject": (
        "s3:CreateMultipartUpload",
        "s3:UploadPart",
        "s3:CompleteMultipartUpload",
        "s3:CopyObject",
        "s3:UploadPartCopy",
    ),
    "s3:DeleteObject": ("s3:DeleteObjects",),
    "s3:GetBucketNotification": ("s3:GetBucketNotificationConfiguration",),
    "s3:PutBucketNotification": ("s3:PutBucketNotificationConfiguration",),
    "s3:GetLifecycleConfiguration": ("s3:GetBucketLifecycleConfiguration",),
    "s3:PutLifecycleConfiguration": ("s3:PutBucketLifecycleConfiguration",),
}


class UnenforceablePolicy(ValueError):
    """A ``Policies`` entry that is not a statement list (a SAM policy template, a managed policy)."""


def set_enforcement(moto_url: str, after_requests: float) -> float:
    """Check IAM once moto has served ``after_requests`` more requests (0: now; ``OFF``: never).

    Returns the previous setting. moto keeps it in a module global, so it holds for every moto
    server of the process until set back.
    """
    resp = requests.post(f"{moto_url.rstrip('/')}/moto-api/reset-auth", data=str(after_requests), timeout=10)
    resp.raise_for_status()
    return float(resp.json()["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"])


@contextlib.contextmanager
def paused(moto_url: str) -> Iterator[None]:
    """No IAM check inside the block (for presigned URLs, which moto cannot check)."""
    previous = set_enforcement(moto_url, OFF)
    try:
        yield
    finally:
        set_enforcement(moto_url, previous)


def harness_user(iam: Any, name: str = "vaultmail-local-harness") -> tuple[str, str]:
    """(access key id, secret) of a user allowed everything."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="everything", PolicyDocument=json.dumps(ALL))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def role_documents(template: dict[str, Any], function: str) -> list[Any]:
    """The policy documents of a function's role as template.yaml declares them.

    A function with ``Role: !GetAtt XRole.Arn`` (the stack's own role, issue 20): the role's
    ``Policies`` and every ``AWS::IAM::RolePolicy`` / ``AWS::IAM::Policy`` attached to it (those
    name the function itself: its log group, its idempotency records). A function without a
    ``Role``: its SAM ``Policies``.
    """
    resources = template["Resources"]
    props = resources[function].get("Properties") or {}
    role = props.get("Role")
    if role is None:
        return list(props.get("Policies") or [])
    ref = role.get("Fn::GetAtt") if isinstance(role, dict) else None
    if not ref:
        raise UnenforceablePolicy(f"{function}: Role {role!r} is not a role of the template")
    logical = ref[0] if isinstance(ref, list) else str(ref).split(".")[0]
    documents = [p["PolicyDocument"] for p in resources[logical]["Properties"].get("Policies") or []]
    for resource in resources.values():
        attached = resource.get("Properties") or {}
        roles = [attached.get("RoleName")] if resource.get("Type") == "AWS::IAM::RolePolicy" else []
        if resource.get("Type") == "AWS::IAM::Policy":
            roles = list(attached.get("Roles") or [])
        if {"Ref": logical} in roles:
            documents.append(attached["PolicyDocument"])
    return documents


def function_policies(policies: list[Any], resolve: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """The ``Policies`` of a serverless function as policy documents moto can evaluate.

    ``resolve`` turns the template's intrinsic functions into values (``AWS::NoValue`` into None).
    """
    documents: list[dict[str, Any]] = []
    for entry in policies:
        if not (isinstance(entry, dict) and set(entry) in ({"Statement"}, {"Version", "Statement"})):
            raise UnenforceablePolicy(
                f"the local stack checks IAM with the template's own statements; it cannot expand {entry!r}"
            )
        statements = []
        for statement in _listify(resolve(entry["Statement"])):
            if statement is None:
                continue
            statements += _for_moto(statement)
        documents.append({"Version": "2012-10-17", "Statement": statements})
    return documents


def _for_moto(statement: dict[str, Any]) -> list[dict[str, Any]]:
    """Split by service: S3 keeps its resources; others get ``*``; conditions are dropped."""
    actions = [str(a) for a in _listify(statement["Action"])]
    s3 = [a for a in actions if a.startswith("s3:")]
    other = [a for a in actions if not a.startswith("s3:")]
    out = []
    if s3:
        s3 = s3_operations(s3)
        resources = [str(r) for r in _listify(statement.get("Resource", "*")) if r is not None]
        out.append({"Effect": statement["Effect"], "Action": s3, "Resource": resources})
    if other:
        out.append({"Effect": statement["Effect"], "Action": other, "Resource": "*"})
    return out


def s3_operations(actions: list[str]) -> list[str]:
    """``actions`` and the S3 API operations they authorize (:data:`S3_OPERATIONS`), each once."""
    out = list(actions)
    for action in actions:
        out += [op for op in S3_OPERATIONS.get(action, ()) if op not in out]
    return out


def role_credentials(
    iam: Any, sts: Any, name: str, documents: list[dict[str, Any]], account: str
) -> dict[str, str]:
    """Create role ``name`` with ``documents`` and return its session's credentials as environment."""
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    for index, document in enumerate(documents):
        iam.put_role_policy(RoleName=name, PolicyName=f"policy-{index}", PolicyDocument=json.dumps(document))
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{name}", RoleSessionName=name[-64:])[
        "Credentials"
    ]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
