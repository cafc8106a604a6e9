"""The whole application on local stand-ins: moto in server mode plus the Active Store emulator.

``LocalStack`` reads template.yaml, creates what it declares in moto (mail bucket, topic,
state table with its key schema and TTL, dead-letter queues, the API key secret, the SES
identity), and delivers events the way AWS does: S3 notifications and SNS messages land in
SQS queues in moto, are turned into the Lambda event shapes and invoke the built functions
asynchronously (retries, then the OnFailure queue). The scanner runs on demand as if its
schedule fired.

Each function runs with the temporary credentials of a role made from its ``Policies`` in
template.yaml, and moto checks IAM (see :mod:`vaultmail_dev.iam`): a call the template does not
allow fails here, not after deploying.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from . import iam, sambuild
from .emulator import Emulator
from .runner import FunctionRunner, FunctionSpec, Invocation
from .servers import aws_env, start_moto

ROOT = sambuild.ROOT
REGION = "us-east-1"
ACCOUNT = "123456789012"
API_KEY = "local-demo-key"
DOMAINS = ("acme.com", "example.org")

PARAMETERS = {
    "PrimaryDomain": ",".join(DOMAINS),
    "NotifyFrom": "archive-notices@acme.com",
    "AdminEmail": "postmaster@acme.com",
    "ScanPrefixes": "",
    "ScanSuffixes": ".eml",
    "SizeThresholdBytes": "10485760",
    "LinkExpirySeconds": "86400",
    "LogLevel": "INFO",
    # A bucket of the customer's, not the stack's, that SNS messages may point to; created here.
    "PayloadBucketName": "vaultmail-local-payloads",
}


def load_template(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse

    return yaml_parse(path.read_text())


@dataclass
class Resolver:
    """Just enough CloudFormation intrinsics to read the template's environment."""

    template: dict[str, Any]
    parameters: dict[str, str]
    physical: dict[str, dict[str, str]] = field(default_factory=dict)  # logical id -> {Ref, Arn, ...}

    def param(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        spec = self.template.get("Parameters", {}).get(name, {})
        return str(spec.get("Default", ""))

    def condition(self, name: str) -> bool:
        return bool(self.value(self.template.get("Conditions", {})[name]))

    def value(self, node: Any) -> Any:
        if isinstance(node, list):  # a list loses its AWS::NoValue items, as in CloudFormation
            return [v for v in (self.value(item) for item in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.value(v) for k, v in node.items()}
        ((fn, arg),) = node.items()
        if fn == "Ref":
            if arg == "AWS::Region":
                return REGION
            if arg == "AWS::AccountId":
                return ACCOUNT
            if arg == "AWS::StackName":
                return "vaultmail-local"
            if arg == "AWS::NoValue":
                return None
            if arg in self.physical:
                return self.physical[arg]["Ref"]
            return self.param(arg)
        if fn == "Fn::GetAtt":
            logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.physical.get(logical, {}).get(attr, "")
        if fn == "Fn::If":
            cond, yes, no = arg
            return self.value(yes if self.condition(cond) else no)
        if fn == "Fn::Equals":
            return str(self.value(arg[0])) == str(self.value(arg[1]))
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::And":
            return all(self.value(a) for a in arg)
        if fn == "Fn::Or":
            return any(self.value(a) for a in arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Join":
            return str(arg[0]).join(str(self.value(v)) for v in self.value(arg[1]))
        if fn == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            for key, val in extra.items():
                text = text.replace("${" + key + "}", str(self.value(val)))
            for name in list(self.template.get("Parameters", {})) + list(self.physical):
                if "${" + name + "}" in text:
                    text = text.replace("${" + name + "}", str(self.value({"Ref": name})))
            for logical, attrs in self.physical.items():
                for attr, val in attrs.items():
                    text = text.replace("${" + logical + "." + attr + "}", str(val))
            return (
                text.replace("${AWS::Region}", REGION)
                .replace("${AWS::AccountId}", ACCOUNT)
                .replace("${AWS::Partition}", "aws")
                .replace("${AWS::StackName}", "vaultmail-local")
            )
        if fn == "Fn::Select":
            return self.value(arg[1])[int(arg[0])]
        if fn == "Fn::Split":
            return str(self.value(arg[1])).split(arg[0])
        return {k: self.value(v) for k, v in node.items()}


class LocalStack:
    """Start with ``with LocalStack() as stack:``; see ``make demo`` and tests/e2e."""

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        build: sambuild.Build | None = None,
        parameters: dict[str, str] | None = None,
        slot_method: str = "POST",
        function_env: dict[str, str] | None = None,
        enforce_iam: bool = True,
    ) -> None:
        """``enforce_iam``: functions get only their template role's rights, and moto checks them."""
        self.enforce_iam = enforce_iam
        self.workdir = workdir or ROOT / ".demo"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.template = load_template()
        self.parameters = {**PARAMETERS, **(parameters or {})}
        self.build = build
        self.slot_method = slot_method
        self.function_env = function_env or {}
        self.runners: dict[str, FunctionRunner] = {}
        self.names: dict[str, str] = {}
        self._closers: list[Any] = []

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.moto = start_moto()
        self._closers.append(self.moto.stop)
        self.env = aws_env(self.moto.url)
        harness: tuple[str, str] | None = None
        if self.enforce_iam:  # before the check is on, moto accepts any key
            iam_client = boto3.client(
                "iam",
                endpoint_url=self.moto.url,
                region_name=REGION,
                aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            )
            harness = iam.harness_user(iam_client)
            self.env["AWS_ACCESS_KEY_ID"], self.env["AWS_SECRET_ACCESS_KEY"] = harness
            del self.env["AWS_SESSION_TOKEN"]  # a user's long-term key has none
        saved = {k: os.environ.get(k) for k in [*self.env, "AWS_SESSION_TOKEN"]}
        self._closers.append(lambda: _restore_environ(saved))
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(self.env)  # this process's boto3 clients talk to moto too
        self.session = boto3.session.Session(region_name=REGION)
        self.emulator = Emulator(
            self.moto.url,
            domains=DOMAINS,
            api_key=API_KEY,
            slot_method=self.slot_method,
            aws_credentials=harness,
        )
        self.emulator.start()
        self._closers.append(self.emulator.stop)
        self.build = self.build or sambuild.prepare()
        self._create_resources()
        self._start_functions()
        if self.enforce_iam:
            previous = iam.set_enforcement(self.moto.url, 0)
            self._closers.append(lambda: iam.set_enforcement(self.moto.url, previous))

    def close(self) -> None:
        for runner in self.runners.values():
            runner.close()
        while self._closers:
            with contextlib.suppress(Exception):  # best effort on the way out
                self._closers.pop()()

    def client(self, service: Any) -> Any:
        return self.session.client(service, endpoint_url=self.moto.url)

    # -- resources --------------------------------------------------------------------

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v.get("Type") == rtype}

    def _create_resources(self) -> None:
        s3, sns, sqs, ddb = (self.client(s) for s in ("s3", "sns", "sqs", "dynamodb"))
        secrets, ses = self.client("secretsmanager"), self.client("ses")
        self.resolver = Resolver(self.template, self.parameters)
        physical = self.resolver.physical

        secret = secrets.create_secret(Name="vaultmail/api-key", SecretString=json.dumps({"apiKey": API_KEY}))
        self.parameters["ApiKeySecretArn"] = secret["ARN"]
        self.parameters["ApiEndpointUrl"] = self.emulator.url
        for identity in {self.parameters["NotifyFrom"], self.parameters["AdminEmail"]}:
            ses.verify_email_identity(EmailAddress=identity)

        if self.parameters.get("PayloadBucketName"):
            s3.create_bucket(Bucket=self.parameters["PayloadBucketName"])
        for logical in self.resources("AWS::SQS::Queue"):
            name = f"vaultmail-{logical}"
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            physical[logical] = {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}
        for logical in self.resources("AWS::SNS::Topic"):
            arn = sns.create_topic(Name=f"vaultmail-{logical}")["TopicArn"]
            physical[logical] = {"Ref": arn, "TopicArn": arn, "TopicName": f"vaultmail-{logical}"}
        for logical, res in self.resources("AWS::S3::Bucket").items():
            # the template's name, which the functions' policies name too
            name = self.resolver.value((res.get("Properties") or {}).get("BucketName")) or (
                f"vaultmail-{logical.lower()}-local"
            )
            s3.create_bucket(Bucket=name)
            versioning = (res.get("Properties") or {}).get("VersioningConfiguration", {})
            if versioning.get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            physical[logical] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        for logical, res in self.resources("AWS::DynamoDB::Table").items():
            props = res["Properties"]
            name = f"vaultmail-{logical}"
            ddb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                ddb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
            physical[logical] = {"Ref": name, "Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"}
        for logical in self.resources("AWS::Serverless::LayerVersion"):
            physical[logical] = {"Ref": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{logical}:1"}
        for logical in self.resources("AWS::Serverless::Function"):
            physical[logical] = {
                "Ref": logical,
                "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical}",
            }
        self.names = {k: v["Ref"] for k, v in physical.items()}
        self._wire_events(s3, sns, sqs)

    def _event_queue(self, sqs: Any, name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    def _wire_events(self, s3: Any, sns: Any, sqs: Any) -> None:
        """Each function event of the template becomes an SQS queue that moto delivers to."""
        self.routes: list[tuple[str, str, str]] = []  # (queue url, kind, function logical id)
        for logical, fn in self.resources("AWS::Serverless::Function").items():
            for name, ev in ((fn.get("Properties") or {}).get("Events") or {}).items():
                props = ev.get("Properties") or {}
                if ev["Type"] == "S3":
                    bucket = self.resolver.value(props["Bucket"])
                    url, arn = self._event_queue(sqs, f"local-{logical}-{name}")
                    events = props["Events"] if isinstance(props["Events"], list) else [props["Events"]]
                    s3.put_bucket_notification_configuration(
                        Bucket=bucket,
                        NotificationConfiguration={
                            "QueueConfigurations": [{"QueueArn": arn, "Events": events}]
                        },
                    )
                    self.routes.append((url, "s3", logical))
                elif ev["Type"] == "SNS":
                    topic = self.resolver.value(props["Topic"])
                    url, arn = self._event_queue(sqs, f"local-{logical}-{name}")
                    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
                    self.routes.append((url, "sns", logical))

    def _start_functions(self) -> None:
        assert self.build is not None
        globals_fn = (self.template.get("Globals") or {}).get("Function") or {}
        sqs = self.client("sqs")
        for logical, fn in self.resources("AWS::Serverless::Function").items():
            props = fn["Properties"]
            env = dict(((globals_fn.get("Environment") or {}).get("Variables")) or {})
            env.update(((props.get("Environment") or {}).get("Variables")) or {})
            resolved = {k: self.resolver.value(v) for k, v in env.items()}
            resolved = {k: "" if v is None else str(v) for k, v in resolved.items()}
            resolved.update(self.env)
            if self.enforce_iam:
                documents = iam.function_policies(props.get("Policies") or [], self.resolver.value)
                resolved.pop("AWS_SESSION_TOKEN", None)
                role = f"vaultmail-local-{logical}"
                resolved.update(
                    iam.role_credentials(self.client("iam"), self.client("sts"), role, documents, ACCOUNT)
                )
            resolved.update(self.function_env)
            invoke_cfg = props.get("EventInvokeConfig") or {}
            dest = ((invoke_cfg.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            dest_logical = None
            if isinstance(dest, dict):
                ref = dest.get("Fn::GetAtt") or dest.get("Ref")
                dest_logical = ref[0] if isinstance(ref, list) else str(ref).split(".")[0]
            layer_logical = next(iter(self.resources("AWS::Serverless::LayerVersion")))
            source_dir = ROOT / str(props["CodeUri"]).rstrip("/")
            spec = FunctionSpec(
                logical_id=logical,
                code_dir=self.build.function_dir(logical, source_dir),
                layer_dir=self.build.layer_dir(layer_logical),
                handler=props.get("Handler") or globals_fn.get("Handler", "app.lambda_handler"),
                environment=resolved,
                timeout=int(props.get("Timeout") or globals_fn.get("Timeout") or 180),
                memory=int(props.get("MemorySize") or globals_fn.get("MemorySize") or 128),
                max_retries=int(invoke_cfg.get("MaximumRetryAttempts", 2)),
                dlq_url=self.names.get(dest_logical) if dest_logical else None,
            )
            self.runners[logical] = FunctionRunner(
                spec, self.build.python, self.build.deps_dir, sqs, log_file=self.workdir / f"{logical}.log"
            )

    # -- names ------------------------------------------------------------------------

    def function(self, kind: str) -> FunctionRunner:
        """The runner of the function whose code lives in functions/<kind>/."""
        for logical, fn in self.resources("AWS::Serverless::Function").items():
            if str(fn["Properties"]["CodeUri"]).rstrip("/").endswith(kind):
                return self.runners[logical]
        raise KeyError(kind)

    def bucket(self) -> str:
        return self.names[next(iter(self.resources("AWS::S3::Bucket")))]

    def payload_bucket(self) -> str:
        """The bucket outside the stack that SNS messages may point to (``PayloadBucketName``)."""
        return self.parameters["PayloadBucketName"]

    def topic(self) -> str:
        return self.names[next(iter(self.resources("AWS::SNS::Topic")))]

    def table(self) -> str:
        return self.names[next(iter(self.resources("AWS::DynamoDB::Table")))]

    def dlq(self, kind: str) -> str | None:
        return self.function(kind).spec.dlq_url

    # -- delivery ---------------------------------------------------------------------

    def pump(self, *, idle_rounds: int = 2, max_seconds: float = 120.0) -> list[Invocation]:
        """Deliver queued S3/SNS events to the functions until the queues stay empty."""
        sqs = self.client("sqs")
        done: list[Invocation] = []
        idle = 0
        deadline = time.monotonic() + max_seconds
        while idle < idle_rounds and time.monotonic() < deadline:
            delivered = 0
            for url, kind, logical in self.routes:
                for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                    "Messages", []
                ):
                    event = (s3_event if kind == "s3" else sns_event)(json.loads(msg["Body"]), msg)
                    if event is not None:
                        done.append(self.runners[logical].invoke_async(event))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
                    delivered += 1
            idle = 0 if delivered else idle + 1
            if not delivered:
                time.sleep(0.2)
        return done

    def run_scanner(self) -> Any:
        """As if the scanner's schedule fired (synchronously, to return its stats)."""
        return self.function("oversize_scanner").invoke(scheduled_event())

    def dlq_records(self, kind: str, *, delete: bool = False) -> list[dict[str, Any]]:
        """Every record in a function's dead-letter queue (left there unless ``delete``)."""
        sqs, url = self.client("sqs"), self.dlq(kind)
        records: list[dict[str, Any]] = []
        handles: list[str] = []
        while url:
            msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            if not msgs.get("Messages"):
                break
            for msg in msgs["Messages"]:
                records.append(json.loads(msg["Body"]))
                handles.append(msg["ReceiptHandle"])
        for handle in handles:
            if delete:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
            else:  # visible again, as if nobody had looked
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        return records

    def replay_dlq(self, kind: str) -> list[Invocation]:
        """What an operator does after an outage: ``vaultmail replay``'s code, with Lambda local."""
        from vaultmail.replay import replay

        runner = self.function(kind)
        assert runner.spec.dlq_url is not None
        local_lambda = LocalLambda(runner)
        list(replay(self.client("sqs"), local_lambda, runner.spec.dlq_url, runner.spec.logical_id))
        return local_lambda.invocations

    def fetch(self, url: str, *, timeout: float = 60.0) -> requests.Response:
        """GET a presigned link (moto cannot check presigned URLs under IAM: see vaultmail_dev.iam)."""
        with iam.paused(self.moto.url) if self.enforce_iam else contextlib.nullcontext():
            return requests.get(url, timeout=timeout)

    def sent_emails(self) -> list[dict[str, Any]]:
        """What moto's SES accepted: dicts with source, destinations, subject, body.

        moto runs in this process, so its backend is read directly (its data.json dashboard
        serialises every backend, including S3's large objects).
        """
        from moto.ses.models import ses_backends

        sent = ses_backends[ACCOUNT][REGION].sent_messages
        return [
            {"source": m.source, "destinations": m.destinations, "subject": m.subject, "body": m.body}
            for m in sent
            if hasattr(m, "destinations")
        ]


def _restore_environ(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class LocalLambda:
    """The one Lambda API call ``vaultmail replay`` makes, served by a local runner."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner
        self.invocations: list[Invocation] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert InvocationType == "Event" and FunctionName == self.runner.spec.logical_id
        self.invocations.append(self.runner.invoke_async(json.loads(Payload)))
        return {"StatusCode": 202}


def s3_event(body: dict[str, Any], msg: dict[str, Any]) -> dict[str, Any] | None:
    """An S3 notification from SQS is the Lambda S3 event already; moto's TestEvent is dropped."""
    if body.get("Event") == "s3:TestEvent" or "Records" not in body:
        return None
    return body


def sns_event(body: dict[str, Any], msg: dict[str, Any]) -> dict[str, Any]:
    """An SNS notification delivered to SQS, reshaped as the Lambda SNS event."""
    sns = {
        "Type": body.get("Type", "Notification"),
        "MessageId": body["MessageId"],
        "TopicArn": body["TopicArn"],
        "Subject": body.get("Subject"),
        "Message": body["Message"],
        "Timestamp": body.get("Timestamp"),
        "SignatureVersion": body.get("SignatureVersion", "1"),
        "Signature": body.get("Signature", "EXAMPLE"),
        "SigningCertUrl": body.get("SigningCertURL", ""),
        "UnsubscribeUrl": body.get("UnsubscribeURL", ""),
        "MessageAttributes": body.get("MessageAttributes") or {},
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{body['TopicArn']}:{uuid.uuid4()}",
                "Sns": sns,
            }
        ]
    }


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge schedule sends to the scanner."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/vaultmail-scan"],
        "detail": {},
    }

