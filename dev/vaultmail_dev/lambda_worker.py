"""A warm "Lambda execution environment" for one function, run as its own process.

Started by ``runner.py`` as ``python3.13 -I lambda_worker.py FUNCTION_DIR LAYER_PYTHON_DIR
RUNTIME_DEPS_DIR HANDLER``. Like Lambda's Python runtime it puts the function directory,
the layer's ``python/`` directory and the runtime's own packages (boto3) on ``sys.path``,
imports ``app`` and calls ``app.lambda_handler(event, context)`` once per request.

This file imports nothing from the project: it must see exactly what the built artifacts
contain, so a packaging mistake fails here rather than in AWS. Requests arrive as JSON
lines on stdin; answers leave as JSON lines on the original stdout (the handler's own
stdout, where Powertools logs, is sent to stderr).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid


class Context:
    """The attributes of Lambda's context object that handlers and Powertools use."""

    def __init__(self, name: str, timeout_s: float, memory_mb: int, request_id: str) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    function_dir, layer_dir, deps_dir, handler = sys.argv[1:5]
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the handler's prints and logs go to stderr
    sys.stdout = sys.stderr
    sys.path[:0] = [function_dir, layer_dir, deps_dir]
    module_name, _, func_name = handler.rpartition(".")
    os.chdir(function_dir)  # Lambda's working directory is the function's code
    started = time.perf_counter()
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:
        proto.write(
            json.dumps(
                {
                    "ready": False,
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exc(),
                }
            )
            + "\n"
        )
        return 1
    proto.write(json.dumps({"ready": True, "initMs": (time.perf_counter() - started) * 1000}) + "\n")
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", module_name)
    for line in sys.stdin:
        request = json.loads(line)
        context = Context(
            name,
            float(request.get("timeout", 180)),
            int(request.get("memory", 128)),
            request.get("requestId") or str(uuid.uuid4()),
        )
        try:
            result = func(request["event"], context)
            answer = {"ok": True, "result": result}
        except Exception as exc:  # an unhandled error, as Lambda reports it
            answer = {
                "ok": False,
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exc().splitlines(),
            }
        proto.write(json.dumps(answer, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
