"""The whole application on local stand-ins: moto in server mode plus the Active Store emulator.

``LocalStack`` reads template.yaml, creates what it declares in moto (mail bucket with its
queue and EventBridge notifications, EventBridge rules with their targets, topic and its SQS
subscriptions, state table with its key schema and TTL, queues with their visibility timeouts,
retention and redrive policies, the API key secret, the SES identity), and delivers events the
way AWS does: S3 notifications, S3's EventBridge events matched by the template's rules
(:mod:`vaultmail_dev.bridge`) and SNS messages land in the template's SQS queues, and Lambda's
SQS event source (:mod:`vaultmail_dev.esm`) polls them and invokes the built functions in
batches, with partial batch responses and each source's
``MaximumConcurrency``. ``time_scale`` runs moto's SQS clock that many times faster. The
scanner runs on demand as if its schedule fired.

Each function runs with the temporary credentials of a role made from its role's statements in
template.yaml, and moto checks IAM (see :mod:`vaultmail_dev.iam`): a call the template does not
allow fails here, not after deploying.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import boto3
import requests

from . import bridge, esm, funcurl, iam, resources, sambuild
from .cfn import ACCOUNT, REGION, Resolver, function_properties, load_template
from .emulator import Emulator
from .events import scheduled_event, sns_event
from .runner import FunctionSpec, RunnerPool
from .servers import aws_env, start_moto

ROOT = sambuild.ROOT
__all__ = ["ACCOUNT", "REGION", "LocalStack", "Resolver", "load_template", "scheduled_event", "sns_event"]
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
        time_scale: float = 1.0,
        max_environments: int = 2,
    ) -> None:
        """``enforce_iam``: functions get only their template role's rights, and moto checks them.
        ``time_scale``: moto's SQS clock runs that many times faster (every queue duration of the
        template shrinks by that factor; the functions' work does not). ``max_environments``:
        execution environments (worker processes) per SQS event source at most, besides its
        MaximumConcurrency (each one is a Python process)."""
        self.enforce_iam = enforce_iam
        self.workdir = workdir or ROOT / ".demo"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.template = load_template()
        self.parameters = {**PARAMETERS, **(parameters or {})}
        self.build = build
        self.slot_method = slot_method
        self.function_env = function_env or {}
        self.time_scale = time_scale
        self.max_environments = max_environments
        self.runners: dict[str, RunnerPool] = {}
        self.sources: dict[str, esm.EventSource] = {}
        self.names: dict[str, str] = {}
        self.urls: dict[str, funcurl.FunctionUrl] = {}  # function URLs on loopback, by function
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
        # moto's backends are per process: nothing of an earlier stack, nor of this one after it
        self.moto.reset()
        self._closers.append(self.moto.reset)
        self.clock = time.time
        holding = esm.hold_in_flight()  # a running invocation's messages never come back (AWS)
        self.in_flight = holding.__enter__()
        self._closers.append(lambda: holding.__exit__(None, None, None))
        if self.time_scale != 1.0:
            scaled = esm.scale_sqs_time(self.time_scale)
            self.clock = scaled.__enter__()
            self._closers.append(lambda: scaled.__exit__(None, None, None))
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
        self.bridge = bridge.Bridge(ACCOUNT, REGION).__enter__()  # S3 -> EventBridge rules -> SQS
        self._closers.append(lambda: self.bridge.__exit__(None, None, None))
        self._create_resources()
        self._start_functions()
        self._start_sources()
        if self.enforce_iam:
            previous = iam.set_enforcement(self.moto.url, 0)
            self._closers.append(lambda: iam.set_enforcement(self.moto.url, previous))

    def close(self) -> None:
        for source in self.sources.values():
            source.stop()
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
        s3, sns, sqs = (self.client(s) for s in ("s3", "sns", "sqs"))
        self.resolver = Resolver(self.template, self.parameters)
        physical = self.resolver.physical
        self._outside_the_template(s3)
        physical.update(resources.create_queues(sqs, self.resolver, self.resources("AWS::SQS::Queue")))
        physical.update(resources.create_topics(sns, self.resources("AWS::SNS::Topic")))
        physical.update(resources.create_buckets(s3, self.resolver, self.resources("AWS::S3::Bucket")))
        physical.update(
            bridge.create_rules(self.resolver, self.resources("AWS::Events::Rule"), self.client("events"))
        )
        resources.subscribe(sns, self.resolver, self.resources("AWS::SNS::Subscription"))
        tables = self.resources("AWS::DynamoDB::Table")
        physical.update(resources.create_tables(self.client("dynamodb"), tables))
        for logical in self.resources("AWS::Serverless::LayerVersion"):
            physical[logical] = {"Ref": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{logical}:1"}
        for logical, fn in self.resources("AWS::Serverless::Function").items():
            physical[logical] = {
                "Ref": logical,
                "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical}",
            }
            if (fn.get("Properties") or {}).get("FunctionUrlConfig"):  # SAM's <Function>Url resource
                served = self.urls[logical] = funcurl.FunctionUrl().start()
                self._closers.append(served.stop)
                physical[f"{logical}Url"] = {"Ref": served.url, "FunctionUrl": served.url}
        self.names = {k: v["Ref"] for k, v in physical.items()}

    def _outside_the_template(self, s3: Any) -> None:
        """What a deployer makes before the stack: the API key's secret, verified SES
        identities, the payload bucket (a parameter, not a resource of the stack)."""
        secrets, ses = self.client("secretsmanager"), self.client("ses")
        secret = secrets.create_secret(Name="vaultmail/api-key", SecretString=json.dumps({"apiKey": API_KEY}))
        self.parameters["ApiKeySecretArn"] = secret["ARN"]
        self.parameters["ApiEndpointUrl"] = self.emulator.url
        for identity in {self.parameters["NotifyFrom"], self.parameters["AdminEmail"]}:
            ses.verify_email_identity(EmailAddress=identity)
        if self.parameters.get("PayloadBucketName"):
            s3.create_bucket(Bucket=self.parameters["PayloadBucketName"])

    def _start_functions(self) -> None:
        assert self.build is not None
        sqs = self.client("sqs")
        for logical in self.resources("AWS::Serverless::Function"):
            props = function_properties(self.template, logical)  # with Globals.Function, as SAM
            env = dict((props.get("Environment") or {}).get("Variables") or {})
            resolved = {k: self.resolver.value(v) for k, v in env.items()}
            resolved = {k: "" if v is None else str(v) for k, v in resolved.items()}
            resolved.update(self.env)
            if self.enforce_iam:
                documents = iam.function_policies(
                    iam.role_documents(self.template, logical), self.resolver.value
                )
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
                handler=props.get("Handler") or "app.lambda_handler",
                environment=resolved,
                timeout=int(props.get("Timeout") or 180),
                memory=int(props.get("MemorySize") or 128),
                max_retries=int(invoke_cfg.get("MaximumRetryAttempts", 2)),
                dlq_url=self.names.get(dest_logical) if dest_logical else None,
            )
            reserved = props.get("ReservedConcurrentExecutions")
            self.runners[logical] = RunnerPool(
                spec,
                self.build.python,
                self.build.deps_dir,
                sqs,
                log_file=self.workdir / f"{logical}.log",
                reserved=int(self.resolver.value(reserved)) if reserved is not None else None,
            )
            if logical in self.urls:
                self.urls[logical].invoke = self.runners[logical].invoke

    def _start_sources(self) -> None:
        """Each ``SQS`` event of a function becomes an event source polling its queue."""
        for logical, fn in self.resources("AWS::Serverless::Function").items():
            for name, ev in ((fn.get("Properties") or {}).get("Events") or {}).items():
                if ev["Type"] != "SQS":
                    continue
                props = self.resolver.value(ev["Properties"])
                queue = next(k for k, v in self.resolver.physical.items() if v.get("Arn") == props["Queue"])
                cap = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
                spec = esm.SourceSpec(
                    function=logical,
                    queue_url=self.names[queue],
                    queue_arn=props["Queue"],
                    batch_size=int(props.get("BatchSize", 10)),
                    batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    max_concurrency=int(cap) if cap is not None else None,
                    report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                )
                source = esm.EventSource(
                    spec,
                    self.client("sqs"),
                    self.runners[logical].invoke,
                    clock=self.clock,
                    workers=self.max_environments,
                    in_flight=self.in_flight,
                )
                self.sources[f"{logical}.{name}"] = source.start()

    # -- names ------------------------------------------------------------------------

    def function(self, kind: str) -> RunnerPool:
        """The runner of the function whose code lives in functions/<kind>/."""
        for logical, fn in self.resources("AWS::Serverless::Function").items():
            if str(fn["Properties"]["CodeUri"]).rstrip("/").endswith(kind):
                return self.runners[logical]
        raise KeyError(kind)

    def function_url(self, kind: str) -> str:
        """The loopback URL serving the function of functions/<kind>/ (its FunctionUrl)."""
        return self.urls[self.function(kind).spec.logical_id].url

    def bucket(self) -> str:
        return self.names[next(iter(self.resources("AWS::S3::Bucket")))]

    def payload_bucket(self) -> str:
        """The bucket outside the stack that SNS messages may point to (``PayloadBucketName``)."""
        return self.parameters["PayloadBucketName"]

    def topic(self) -> str:
        return self.names[next(iter(self.resources("AWS::SNS::Topic")))]

    def table(self) -> str:
        return self.names[next(iter(self.resources("AWS::DynamoDB::Table")))]

    def source(self, kind: str) -> esm.EventSource:
        """The SQS event source of the function whose code lives in functions/<kind>/."""
        logical = self.function(kind).spec.logical_id
        return next(s for s in self.sources.values() if s.spec.function == logical)

    def queue(self, kind: str) -> str:
        return self.source(kind).spec.queue_url

    def dlq(self, kind: str) -> str | None:
        """The dead-letter queue of the function's queue (its redrive policy)."""
        arn = json.loads(
            self.client("sqs").get_queue_attributes(
                QueueUrl=self.queue(kind), AttributeNames=["RedrivePolicy"]
            )["Attributes"]["RedrivePolicy"]
        )["deadLetterTargetArn"]
        return next(v["Ref"] for v in self.resolver.physical.values() if v.get("Arn") == arn)

    # -- delivery ---------------------------------------------------------------------

    def waiting(self) -> int:
        """Messages in the SQS-fed queues, visible or in flight (a backoff counts as in flight)."""
        sqs, total = self.client("sqs"), 0
        for source in self.sources.values():
            attrs = sqs.get_queue_attributes(
                QueueUrl=source.spec.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            total += int(attrs["ApproximateNumberOfMessages"]) + int(
                attrs["ApproximateNumberOfMessagesNotVisible"]
            )
        return total

    def pump(self, *, max_seconds: float = 120.0, idle_rounds: int = 3) -> dict[str, esm.Stats]:
        """Wait until the event sources have emptied their queues (archived, rejected or
        dead-lettered) and are idle; the sources' counts, by ``function.event``."""
        idle, deadline = 0, time.monotonic() + max_seconds
        while idle < idle_rounds and time.monotonic() < deadline:
            time.sleep(0.1)
            busy = self.waiting() or not all(s.idle() for s in self.sources.values())
            idle = 0 if busy else idle + 1
        return {name: source.stats for name, source in self.sources.items()}

    def run_scanner(self) -> Any:
        """As if the scanner's schedule fired (synchronously, to return its stats)."""
        return self.function("oversize_scanner").invoke(scheduled_event())

    def dlq_records(self, kind: str, *, delete: bool = False) -> list[Any]:
        """The bodies of the messages in a function's dead-letter queue (left there unless
        ``delete``). Received with a zero visibility timeout, so nothing is hidden afterwards."""
        sqs, url = self.client("sqs"), self.dlq(kind)
        seen: dict[str, Any] = {}
        while url:
            fresh = [m for m in esm.receive(sqs, url, visibility=0) if m["MessageId"] not in seen]
            if not fresh:
                break
            for msg in fresh:
                seen[msg["MessageId"]] = esm.body_of(msg)
                if delete:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
        return list(seen.values())

    def redrive(self, kind: str) -> int:
        """What an operator does after an outage longer than the queue's tolerance: move the
        dead-letter queue's messages back to the function's queue, through `vaultmail replay`'s
        own code with the local mover (``StartMessageMoveTask`` in AWS, which moto 5.2 lacks:
        vaultmail_dev.redrive does the same move on moto's primitives). Returns the count."""
        from .redrive import redrive

        source = self.dlq(kind)
        if not source:
            return 0
        task = redrive(self.client("sqs"), source)
        if task.status != "COMPLETED":
            raise RuntimeError(f"redrive of {kind}'s dead-letter queue: {task.status} {task.failure}")
        return task.moved

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
