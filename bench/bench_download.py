"""The built download function on Python 3.13 against moto (a separate process, over loopback):
cold start and warm answer time of a click on a link.

1. Cold start: a fresh interpreter imports the handler (function dir + layer python/ + boto3,
   as Lambda's init does), then answers its first GET (clients made, GetItem, UpdateItem, the
   presigned GET): both timed, median of RUNS fresh interpreters.
2. Warm: in one of those processes, N more GETs of the same link (each a GetItem, an
   UpdateItem ADD and a presign), and N HEADs (no UpdateItem): median and 95th percentile.
Goal (issue 19, "answers in milliseconds"): a warm GET's median under 50 ms here, where each
DynamoDB call is an HTTP round trip to moto (in AWS a GetItem is single-digit ms).
Run by ``make bench`` (needs python3.13; sam build runs if needed).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).parent))
from _context import context, summary, write
from _procs import AWS_ENV, servers

from vaultmail.links import LinkTable
from vaultmail.scanner.links import TokenLinks
from vaultmail_dev import sambuild
from vaultmail_dev.funcurl import request_event

RUNS, WARM = 7, 200
BUCKET, TABLE, KEY = "bench-mail", "bench-state", "out/big.eml"

CHILD = r"""
import json, statistics, sys, time
t0 = time.perf_counter()
sys.path[:0] = sys.argv[1:4]
import app
imported = time.perf_counter()
class Ctx:
    function_name = "bench"; function_version = "$LATEST"; memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "r"; log_group_name = "g"; log_stream_name = "s"
    def get_remaining_time_in_millis(self): return 10000
get, head = json.loads(sys.argv[4]), json.loads(sys.argv[5])
first = app.lambda_handler(get, Ctx())
answered = time.perf_counter()
assert first["statusCode"] == 302, first
def timed(event, n):
    out = []
    for _ in range(n):
        s = time.perf_counter()
        r = app.lambda_handler(event, Ctx())
        out.append((time.perf_counter() - s) * 1000)
        assert r["statusCode"] == 302
    return out
warm = int(sys.argv[6])
print(json.dumps({"import_ms": (imported - t0) * 1000, "first_answer_ms": (answered - imported) * 1000,
                  "get_ms": timed(get, warm), "head_ms": timed(head, warm)}))
"""


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def setup(moto_url: str) -> str:
    """A versioned bucket with a mail, the state table, and one link; the link's path."""
    os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL": moto_url})
    s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    etag = s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"Subject: x\r\n\r\n" + b"x" * 4096)["ETag"]
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    maker = TokenLinks("https://bench", LinkTable(ddb, TABLE), s3, expiry=3600, contact="n@acme.com")
    made = maker.make(BUCKET, KEY, etag, filename="x.eml", recipients=("a@acme.com",), now=time.time())
    return "/" + made.url.split("/", 3)[3]


def measure(build: sambuild.Build) -> dict[str, Any]:
    fn_dir = build.function_dir("DownloadFunction", sambuild.ROOT / "functions/download")
    layer = build.layer_dir("CoreLayer")
    with servers("PUT") as (moto_url, _):
        path = setup(moto_url)
        env = {
            **os.environ,
            **AWS_ENV,
            "AWS_ENDPOINT_URL": moto_url,
            "STATE_TABLE": TABLE,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        }
        get = json.dumps(request_event("GET", path, [("User-Agent", "bench")], b""))
        head = json.dumps(request_event("HEAD", path, [("User-Agent", "bench")], b""))
        runs = []
        for run in range(RUNS):
            warm = WARM if run == 0 else 1
            args = [str(fn_dir), str(layer), str(build.deps_dir), get, head, str(warm)]
            out = subprocess.run(
                [build.python, "-I", "-c", CHILD, *args], env=env, capture_output=True, text=True, check=True
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    warm_get, warm_head = runs[0]["get_ms"], runs[0]["head_ms"]
    return {
        "python": build.python,
        "from_source": build.from_source,
        "moto": "moto server in its own process, over loopback HTTP",
        "cold": {
            "runs": RUNS,
            "handler_import_ms_median": round(statistics.median(r["import_ms"] for r in runs), 1),
            "first_answer_ms_median": round(statistics.median(r["first_answer_ms"] for r in runs), 1),
            "import_plus_first_answer_ms_median": round(
                statistics.median(r["import_ms"] + r["first_answer_ms"] for r in runs), 1
            ),
        },
        "warm": {
            "requests": WARM,
            "get_ms_median": round(statistics.median(warm_get), 2),
            "get_ms_p95": round(p95(warm_get), 2),
            "head_ms_median": round(statistics.median(warm_head), 2),
            "head_ms_p95": round(p95(warm_head), 2),
        },
    }


def main() -> None:
    started = context()
    result = measure(sambuild.prepare())
    goals = [
        summary(
            "warm GET answered in under 50 ms (median, DynamoDB on moto over loopback)",
            met=result["warm"]["get_ms_median"] < 50,
            figure=f"{result['warm']['get_ms_median']} ms median, {result['warm']['get_ms_p95']} ms p95",
        ),
        summary(
            "cold start (import + first answer) under 1500 ms (median)",
            met=result["cold"]["import_plus_first_answer_ms_median"] < 1500,
            figure=f"{result['cold']['import_plus_first_answer_ms_median']} ms",
        ),
    ]
    write("download", result, goals, started)


if __name__ == "__main__":
    main()
