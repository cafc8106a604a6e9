"""The template's IAM roles, checked by moto: a local function may do only what its role allows.

moto checks IAM when ``INITIAL_NO_AUTH_ACTION_COUNT`` is reached (``/moto-api/reset-auth``):
every request must then be signed with a key of a user or an assumed role of moto's IAM, and
its action must be allowed by that principal's policies. The local stack creates, before it
turns the check on:

* a harness user allowed everything, for the stack itself (creating resources, delivering
  events, reading dead-letter queues) and the upload API emulator;
* one role per function carrying the function's ``Policies`` statements from template.yaml,
  and the temporary credentials of that role, which the function's process gets, as on Lambda.

What moto checks, and so what this proves: the **actions** of every AWS call a function makes,
and the **resources** of its S3 calls (``arn:aws:s3:::bucket/key``). moto evaluates other
services' calls against the resource ``*`` and evaluates no condition keys, so for those the
statements are checked with ``Resource: "*"`` and without ``Condition`` (the template tests
check resources and conditions statically). moto cannot check presigned URLs under IAM
(``KeyError: HTTP_AUTHORIZATION`` in 5.x): :func:`paused` lets a link be fetched.
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
        resources = [str(r) for r in _listify(statement.get("Resource", "*")) if r is not None]
        out.append({"Effect": statement["Effect"], "Action": s3, "Resource": resources})
    if other:
        out.append({"Effect": statement["Effect"], "Action": other, "Resource": "*"})
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
