"""Run the functions of the built stack the way Lambda does.

``FunctionRunner`` keeps one warm worker process (``lambda_worker.py``, an execution
environment) on Python 3.13 with the function directory, the layer's ``python/`` and boto3
on its path and the template's environment. ``invoke_async`` behaves like an asynchronous
invocation with the template's EventInvokeConfig: up to 1 + MaximumRetryAttempts tries, then
the event and its error go to the OnFailure SQS destination, in Lambda's destination record
format. ``RunnerPool`` is a function's set of execution environments: one per concurrent
invocation, started on demand, at most the function's reserved concurrency (beyond it an
invocation is throttled, ``TooManyRequestsException``, as Lambda does); it counts how many
ran at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("lambda_worker.py")


class InvokeError(Exception):
    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(f"{answer.get('errorType')}: {answer.get('errorMessage')}")
        self.answer = answer


@dataclass
class FunctionSpec:
    """One function of the template, resolved for local runs."""

    logical_id: str
    code_dir: Path
    layer_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int = 180
    memory: int = 128
    max_retries: int = 2
    dlq_url: str | None = None


@dataclass
class Invocation:
    event: dict[str, Any]
    attempts: int = 0
    result: Any = None
    errors: list[str] = field(default_factory=list)
    dead_lettered: bool = False


class FunctionRunner:
    """A warm execution environment for one function (restarted if it dies)."""

    def __init__(
        self, spec: FunctionSpec, python: str, deps_dir: Path, sqs: Any = None, log_file: Path | None = None
    ) -> None:
        self.spec = spec
        self.python = python
        self.deps_dir = deps_dir
        self.sqs = sqs
        self.log_file = log_file
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self.invocations: list[Invocation] = []

    def _start(self) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update(self.spec.environment)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": self.spec.logical_id,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.spec.memory),
                "LAMBDA_TASK_ROOT": str(self.spec.code_dir),
            }
        )
        stderr: Any = open(self.log_file, "a") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            [
                self.python,
                "-I",
                str(WORKER),
                str(self.spec.code_dir),
                str(self.spec.layer_dir),
                str(self.deps_dir),
                self.spec.handler,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        hello = json.loads(proc.stdout.readline() or '{"ready": false, "errorMessage": "worker died"}')
        if not hello.get("ready"):
            proc.kill()
            raise InvokeError(
                {
                    "errorType": hello.get("errorType", "InitError"),
                    "errorMessage": f"init of {self.spec.logical_id} failed: {hello.get('errorMessage')}",
                }
            )
        return proc

    def invoke(self, event: dict[str, Any]) -> Any:
        """One synchronous invocation; raises InvokeError for a function error."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            request = {
                "event": event,
                "timeout": self.spec.timeout,
                "memory": self.spec.memory,
                "requestId": str(uuid.uuid4()),
            }
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        if not line:
            self._proc = None
            raise InvokeError({"errorType": "Runtime.ExitError", "errorMessage": "the worker exited"})
        answer = json.loads(line)
        if not answer["ok"]:
            raise InvokeError(answer)
        return answer["result"]

    def invoke_async(self, event: dict[str, Any], retry_delay: float = 0.0) -> Invocation:
        """An asynchronous invocation: retries, then the OnFailure destination."""
        inv = Invocation(event)
        self.invocations.append(inv)
        for _ in range(1 + self.spec.max_retries):
            inv.attempts += 1
            try:
                inv.result = self.invoke(event)
                return inv
            except InvokeError as exc:
                inv.errors.append(str(exc))
                last = exc.answer
                if retry_delay:
                    time.sleep(retry_delay)
        if self.sqs is not None and self.spec.dlq_url:
            self.sqs.send_message(
                QueueUrl=self.spec.dlq_url,
                MessageBody=json.dumps(destination_record(self.spec, event, inv, last)),
            )
            inv.dead_lettered = True
        return inv

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None


def destination_record(
    spec: FunctionSpec, event: dict[str, Any], inv: Invocation, error: dict[str, Any]
) -> dict[str, Any]:
    """Lambda's OnFailure destination record for an asynchronous invocation."""
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{spec.logical_id}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": inv.attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": error.get("errorType"), "errorMessage": error.get("errorMessage")},
    }


class RunnerPool:
    """The execution environments of one function: as many as invocations run at once."""

    def __init__(
        self,
        spec: FunctionSpec,
        python: str,
        deps_dir: Path,
        sqs: Any = None,
        log_file: Path | None = None,
        *,
        reserved: int | None = None,
    ) -> None:
        self.spec = spec
        self.reserved = reserved
        self._make = lambda: FunctionRunner(spec, python, deps_dir, sqs, log_file)
        self._idle: list[FunctionRunner] = []
        self._all: list[FunctionRunner] = []
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0  # the most invocations that ran at once
        self.throttled = 0
        self.invocations: list[Invocation] = []

    def _take(self) -> FunctionRunner:
        with self._lock:
            if self.reserved is not None and self.running >= self.reserved:
                self.throttled += 1
                raise InvokeError(
                    {
                        "errorType": "TooManyRequestsException",
                        "errorMessage": "Rate Exceeded (reserved concurrency)",
                    }
                )
            self.running += 1
            self.peak = max(self.peak, self.running)
            if self._idle:
                return self._idle.pop()
            runner = self._make()
            self._all.append(runner)
            return runner

    def _give(self, runner: FunctionRunner) -> None:
        with self._lock:
            self.running -= 1
            self._idle.append(runner)

    def invoke(self, event: dict[str, Any]) -> Any:
        runner = self._take()
        try:
            return runner.invoke(event)
        finally:
            self._give(runner)

    def invoke_async(self, event: dict[str, Any], retry_delay: float = 0.0) -> Invocation:
        runner = self._take()
        try:
            inv = runner.invoke_async(event, retry_delay)
        finally:
            self._give(runner)
        self.invocations.append(inv)
        return inv

    def warm(self, count: int) -> None:
        """Start ``count`` execution environments now (their init is then not an invocation's)."""
        with self._lock:
            while len(self._all) < count:
                runner = self._make()
                with runner._lock:
                    runner._proc = runner._start()
                self._all.append(runner)
                self._idle.append(runner)

    @property
    def environments(self) -> int:
        return len(self._all)

    def close(self) -> None:
        for runner in self._all:
            runner.close()
