"""The built S3 uploader on Python 3.13: memory for a 50 MB mail, and cold import times.

1. Peak RSS of a 50 MB object through the S3 uploader handler, above the peak of a small
   mail's run in the same process (goal: at most 16 MiB, so a 128 MB Lambda suffices).
2. Cold import time of each built handler (function dir + layer python/ + boto3, as Lambda
   loads them) against the floor: importing boto3 and creating the clients the handler
   needs (goal: within 1.3x of that floor). Median of several fresh interpreters.
Run by ``make bench`` (needs python3.13; sam build runs if needed).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from _context import context, summary, write
from _procs import AWS_ENV, servers

from vaultmail_dev import sambuild
from vaultmail_dev.mails import mail, write_big_mail

RUNS = 11
HANDLERS = {
    "SnsUploaderFunction": ("s3", "dynamodb", "secretsmanager"),
    "S3UploaderFunction": ("s3", "dynamodb", "secretsmanager"),
    "OversizeScannerFunction": ("s3", "dynamodb", "sesv2"),
}

RSS_CHILD = r"""
import json, resource, sys
sys.path[:0] = sys.argv[1:4]
import app
class Ctx:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "r"; log_group_name = "g"; log_stream_name = "s"
    def get_remaining_time_in_millis(self): return 180000
def event(key, size):
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": sys.argv[4]},
            "object": {"key": key, "size": size}}}]}
app.lambda_handler(event("small.eml", int(sys.argv[5])), Ctx())
small = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = app.lambda_handler(event("big.eml", int(sys.argv[6])), Ctx())
big = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"small_kib": small, "big_kib": big, "status": out["results"][0]["status"]}))
"""

IMPORT_CHILD = r"""
import sys, time
t = time.perf_counter()
sys.path[:0] = sys.argv[2:5]
if sys.argv[1] == "handler":
    import app  # the handler module, as Lambda's init phase imports it
imported = time.perf_counter()
import boto3
for service in sys.argv[5].split(","):
    boto3.client(service)  # what the first invocation creates (the handler creates them lazily)
done = time.perf_counter()
print((imported - t) * 1000, (done - t) * 1000)
"""


def create_state_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def rss(build: sambuild.Build) -> dict[str, object]:
    fn_dir = build.function_dir("S3UploaderFunction", sambuild.ROOT / "functions/s3_uploader")
    layer = build.layer_dir("CoreLayer")
    with tempfile.TemporaryDirectory() as tmp, servers("PUT") as (moto_url, emu_url):
        env = {**os.environ, **AWS_ENV, "AWS_ENDPOINT_URL": moto_url}
        os.environ.update(env)
        s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
        s3.create_bucket(Bucket="bench-mail")
        small = mail("small", to="ops@acme.com")
        s3.put_object(Bucket="bench-mail", Key="small.eml", Body=small)
        big = write_big_mail(Path(tmp) / "big.eml", 52_428_800, subject="big")
        s3.upload_file(str(big), "bench-mail", "big.eml")
        env.update(
            {
                "PRIMARY_DOMAIN": "acme.com",
                "API_ENDPOINT_URL": emu_url,
                "API_KEY": "bench-key",
                "POWERTOOLS_METRICS_NAMESPACE": "Bench",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        runs = []
        for run in range(3):  # a fresh state table per run, so idempotency does not skip the upload
            create_state_table(ddb, f"bench-state-{run}")
            env["STATE_TABLE"] = f"bench-state-{run}"
            args = [str(fn_dir), str(layer), str(build.deps_dir), "bench-mail", str(len(small)), "52428800"]
            cmd = [build.python, "-I", "-c", RSS_CHILD, *args]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    deltas = [(r["big_kib"] - r["small_kib"]) / 1024 for r in runs]
    return {
        "s3_uploader_50mb_peak_rss_above_small_mib": [round(d, 2) for d in deltas],
        "peak_rss_after_small_mib": [round(r["small_kib"] / 1024, 1) for r in runs],
        "peak_rss_after_50mb_mib": [round(r["big_kib"] / 1024, 1) for r in runs],
        "statuses": [r["status"] for r in runs],
        "goal_mib": 16,
        "goal_met": max(deltas) <= 16,
    }


def imports(build: sambuild.Build) -> dict[str, object]:
    env = {**os.environ, **AWS_ENV, "PRIMARY_DOMAIN": "acme.com"}
    out: dict[str, object] = {}
    for logical, services in HANDLERS.items():
        src = {
            "SnsUploaderFunction": "sns_uploader",
            "S3UploaderFunction": "s3_uploader",
            "OversizeScannerFunction": "oversize_scanner",
        }[logical]
        paths = [
            str(build.function_dir(logical, sambuild.ROOT / "functions" / src)),
            str(build.layer_dir("CoreLayer")),
            str(build.deps_dir),
        ]

        def time_one(
            kind: str, paths: list[str] = paths, services: tuple[str, ...] = services
        ) -> list[float]:
            cmd = [build.python, "-I", "-c", IMPORT_CHILD, kind, *paths, ",".join(services)]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            return [float(x) for x in res.stdout.split()]

        # interleaved, so that the machine's drift during the runs weighs on both sides alike
        handler_runs, floor_runs = [], []
        for _ in range(RUNS):
            handler_runs.append(time_one("handler"))
            floor_runs.append(time_one("floor")[1])
        floor = statistics.median(floor_runs)
        handler_import = statistics.median(r[0] for r in handler_runs)
        handler_total = statistics.median(r[1] for r in handler_runs)
        out[logical] = {
            "handler_import_ms": round(handler_import, 1),
            "handler_import_plus_clients_ms": round(handler_total, 1),
            "boto3_and_clients_ms": round(floor, 1),
            "ratio": round(handler_total / floor, 2),
            "goal_ratio": 1.3,
        }
    return out


def main() -> dict[str, object]:
    build = sambuild.prepare(allow_source_fallback=False)
    return {"python": build.python, "memory": rss(build), "cold_import": imports(build)}


def goals(result: dict[str, Any]) -> list[dict[str, Any]]:
    memory = result["memory"]
    peak = max(memory["s3_uploader_50mb_peak_rss_above_small_mib"])
    out = [
        summary(
            "50 MB object through the built S3 uploader: peak RSS above a small mail's "
            f"<= {memory['goal_mib']} MiB",
            memory["goal_met"],
            f"{peak} MiB at most",
        )
    ]
    for logical, timing in result["cold_import"].items():
        out.append(
            summary(
                f"{logical}: cold init with its clients <= {timing['goal_ratio']}x boto3 and clients alone",
                timing["ratio"] <= timing["goal_ratio"],
                f"{timing['ratio']}x ({timing['handler_import_plus_clients_ms']} vs "
                f"{timing['boto3_and_clients_ms']} ms)",
            )
        )
    return out


if __name__ == "__main__":
    started = context()
    result = main()
    write("handlers", result, goals(result), started)
