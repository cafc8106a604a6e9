"""The oversize scanner: bytes read per mail against SES Woomera's way, requests per sweep
against bucket size, the 10-million-object model, and the arrival notice's latency.

Run by ``make bench`` (not by pytest). moto runs in its own process.

Part 1, per oversize mail (N mails of 12 MiB):

* scanner, header read: the ranged GETs of :func:`vaultmail.s3.read_headers` alone;
* scanner, whole run: a complete :class:`vaultmail.scanner.Scanner` run (listing, state
  lookups, header read, claim, signing, SES send, completion, tag) divided by N;
* Woomera's way: download each mail whole to a temporary file (as ses-woomera.py did with
  ``get_contents_to_filename``) and scan its lines for headers.

Bytes read are counted on the GetObject bodies. Three rounds; medians are reported.

Part 2, sweeps (:func:`sweeps`): buckets of 1k, 10k and 50k objects (``BENCH_SWEEP_SIZES``)
with date-ordered keys (``2026/11/30/<uuid>.eml``), 1% oversize; a first sweep and a second
one with nothing new, both two hours after the mails arrived (the scanner's clock; the
watermark keeps the hour before a pass's start). Every S3, DynamoDB and SES request is
counted with botocore's ``before-call`` event hook. The 10-million model multiplies the
measured seconds per listing page of the second sweep (moto's page cost, not S3's) by 10,000
pages, and adds one hand-over per invocation of 280 s of work (300 s timeout, 20 s margin).

Part 3, arrival latency (:func:`arrival`): a mail is put, its Object Created event (the
AWS docs' shape) is handed to the arrival path, and the time from the end of the PUT to the
notice's SES send is measured. EventBridge and SQS delivery are not emulated here.

Everything is written to bench/results/scanner.json with the date, commit, CPU count and
load average, and a summary line per goal.
"""

from __future__ import annotations

import io
import json
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from vaultmail import s3 as s3io
from vaultmail.scanner import Listed, Scanner
from vaultmail.settings import Settings
from vaultmail_dev.servers import aws_env, spawn_moto

sys.path.insert(0, str(Path(__file__).parent))
from _context import context, summary, write

MAILS = 5
SIZE = 12 * 1024 * 1024
ROUNDS = 3
BUCKET = "bench-mail"
SENDER = "notices@acme.com"
RESULTS = Path(__file__).parent / "results" / "scanner.json"
WOOMERA_HEADER = re.compile(rb"^(To|From|Cc|Reply-To|Subject|Date):(.*)")


class CountingS3:
    """Counts the bytes of every GetObject body read through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.bytes = 0

    def get_object(self, **kwargs: Any) -> Any:
        response = self._client.get_object(**kwargs)
        data = response["Body"].read()
        self.bytes += len(data)
        response["Body"] = io.BytesIO(data)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def make_mail(i: int) -> bytes:
    head = (
        f"From: Amit Kumar <amit@acme.com>\r\nTo: user{i}@acme.com\r\nCc: ops@acme.com\r\n"
        f"Subject: Site survey {i}\r\nDate: Tue, 07 Jan 2025 10:00:00 +0000\r\n"
        f"Message-ID: <bench{i}@acme.com>\r\nContent-Type: text/plain\r\n\r\n"
    ).encode()
    line = b"x" * 76 + b"\r\n"
    body = line * ((SIZE - len(head)) // len(line) + 1)
    return head + body[: SIZE - len(head)]


def woomera_way(s3: CountingS3, keys: list[str]) -> float:
    """Download every mail whole to a file, then scan its lines (as ses-woomera.py did)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "message.eml"
        for key in keys:
            body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
            with path.open("wb") as out:
                while chunk := body.read(1 << 20):
                    out.write(chunk)
            found = 0
            with path.open("rb") as fh:
                for line in fh:
                    if WOOMERA_HEADER.match(line):
                        found += 1
            assert found >= 4
    return time.perf_counter() - start


def header_reads(s3: CountingS3, keys: list[str]) -> float:
    start = time.perf_counter()
    for key in keys:
        headers, _ = s3io.read_headers(s3, s3io.ObjectRef(BUCKET, key))
        assert headers.to
    return time.perf_counter() - start


def scanner_run(s3: CountingS3, table: str) -> tuple[float, Any]:
    settings = Settings(
        mail_bucket=BUCKET,
        scan_prefixes=("mail/",),
        notify_from=SENDER,
        state_table=table,
        link_expiry_seconds=604800,
    )
    scanner = Scanner(
        settings,
        s3=s3,
        ses=boto3.client("sesv2"),
        dynamodb=boto3.client("dynamodb"),
        signer=boto3.client("s3", config=Config(signature_version="s3v4")),
    )
    start = time.perf_counter()
    result = scanner.run()
    return time.perf_counter() - start, result


def create_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def main() -> dict[str, Any]:
    moto = spawn_moto()
    try:
        os.environ.update(aws_env(moto.url))
        s3, ddb = boto3.client("s3"), boto3.client("dynamodb")
        boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        s3.create_bucket(Bucket=BUCKET)
        keys = [f"mail/2025/{i:02d}.eml" for i in range(MAILS)]
        for i, key in enumerate(keys):
            s3.put_object(Bucket=BUCKET, Key=key, Body=make_mail(i))

        rounds: list[dict[str, Any]] = []
        for n in range(ROUNDS):
            table = f"bench-state-{n}"
            create_table(ddb, table)
            counted = CountingS3(s3)
            read_seconds = header_reads(counted, keys)
            read_bytes = counted.bytes
            counted = CountingS3(s3)
            run_seconds, result = scanner_run(counted, table)
            assert result.stats.notified == MAILS, result.stats
            counted_run = counted.bytes
            counted = CountingS3(s3)
            woomera_seconds = woomera_way(counted, keys)
            rounds.append(
                {
                    "scanner_header_read_seconds_per_mail": read_seconds / MAILS,
                    "scanner_header_read_bytes_per_mail": read_bytes / MAILS,
                    "scanner_run_seconds_per_mail": run_seconds / MAILS,
                    "scanner_run_bytes_per_mail": counted_run / MAILS,
                    "scanner_run_stats": result.stats.as_dict(),
                    "woomera_seconds_per_mail": woomera_seconds / MAILS,
                    "woomera_bytes_per_mail": counted.bytes / MAILS,
                }
            )
    finally:
        moto.stop()

    def median(name: str) -> float:
        return statistics.median(r[name] for r in rounds)

    summary = {
        "mails": MAILS,
        "mail_bytes": SIZE,
        "rounds": ROUNDS,
        "scanner_header_read": {
            "bytes_per_mail": median("scanner_header_read_bytes_per_mail"),
            "seconds_per_mail": round(median("scanner_header_read_seconds_per_mail"), 4),
        },
        "scanner_whole_run": {
            "bytes_per_mail": median("scanner_run_bytes_per_mail"),
            "seconds_per_mail": round(median("scanner_run_seconds_per_mail"), 4),
        },
        "woomera_download_whole": {
            "bytes_per_mail": median("woomera_bytes_per_mail"),
            "seconds_per_mail": round(median("woomera_seconds_per_mail"), 4),
        },
        "bytes_ratio": round(median("woomera_bytes_per_mail") / median("scanner_run_bytes_per_mail"), 1),
        "time_ratio_header_read": round(
            median("woomera_seconds_per_mail") / median("scanner_header_read_seconds_per_mail"), 1
        ),
        "per_round": rounds,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "aws": "moto server in a separate process on localhost",
        },
        "note": "whole run = list + state lookups + ranged header read + claim + sign + SES send + "
        "complete + tag, per mail; Woomera = download the whole mail to a file and scan its lines",
    }
    return summary


def show(summary: dict[str, Any]) -> None:
    rows = [
        ("scanner: header read (ranged GET)", summary["scanner_header_read"]),
        ("scanner: whole run incl. SES send", summary["scanner_whole_run"]),
        ("Woomera: download whole + scan", summary["woomera_download_whole"]),
    ]
    print(
        f"{summary['mails']} mails of {summary['mail_bytes']:,} bytes, median of {summary['rounds']} rounds"
    )
    print(f"{'method':<36} {'bytes read / mail':>18} {'ms / mail':>10}")
    for name, row in rows:
        print(f"{name:<36} {int(row['bytes_per_mail']):>18,} {row['seconds_per_mail'] * 1000:>10.1f}")
    print(
        f"Woomera reads {summary['bytes_ratio']}x the bytes; the header read is "
        f"{summary['time_ratio_header_read']}x faster than a whole download"
    )


# -- part 2: sweeps ---------------------------------------------------------------------------

SWEEP_SIZES = tuple(int(n) for n in os.environ.get("BENCH_SWEEP_SIZES", "1000,10000,50000").split(","))
SWEEP_THRESHOLD = 64 * 1024  # small objects keep moto's memory low; the code path is the same
PAGES_10M = 10_000
WORK_PER_INVOCATION = 280.0  # seconds: 300 s timeout less the 20 s margin


def calls_of(*clients: Any) -> Counter[str]:
    """Every request made through ``clients``, by operation (botocore's before-call hook)."""
    count: Counter[str] = Counter()

    def seen(model: Any, **_: Any) -> None:
        count[model.name] += 1

    for client in clients:
        client.meta.events.register("before-call.*.*", seen)
    return count


def fill(s3: Any, bucket: str, n: int) -> None:
    big = make_sized(SWEEP_THRESHOLD + 1024)
    small = make_sized(1024)
    for i in range(n):
        key = f"2026/11/30/{uuid.UUID(int=i)}.eml"
        s3.put_object(Bucket=bucket, Key=key, Body=big if i % 100 == 0 else small)


def make_sized(size: int) -> bytes:
    head = b"From: a@acme.com\r\nTo: user@acme.com\r\nSubject: s\r\n\r\n"
    return head + b"x" * (size - len(head))


def sweep_scanner(bucket: str, table: str, clock: float) -> tuple[Scanner, Counter[str]]:
    settings = Settings(
        mail_bucket=bucket, notify_from=SENDER, state_table=table, size_threshold_bytes=SWEEP_THRESHOLD
    )
    s3, ses, ddb = boto3.client("s3"), boto3.client("sesv2"), boto3.client("dynamodb")
    count = calls_of(s3, ses, ddb)
    scanner = Scanner(settings, s3=s3, ses=ses, dynamodb=ddb, clock=lambda: clock, tag_objects=False)
    return scanner, count


def sweeps(ddb: Any, s3: Any) -> list[dict[str, Any]]:
    rows = []
    for n in SWEEP_SIZES:
        bucket, table = f"bench-sweep-{n}", f"bench-sweep-state-{n}"
        s3.create_bucket(Bucket=bucket)
        create_table(ddb, table)
        start = time.perf_counter()
        fill(s3, bucket, n)
        fill_seconds = time.perf_counter() - start
        later = time.time() + 2 * 3600
        for run in ("first", "second"):
            scanner, count = sweep_scanner(bucket, table, later if run == "first" else later + 60)
            start, cpu = time.perf_counter(), time.process_time()
            result = scanner.run(send_stats=False)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            pages = count["ListObjectsV2"]
            reads = count["GetItem"] + count["BatchGetItem"]
            rows.append(
                {
                    "objects": n,
                    "run": run,
                    "seconds": round(seconds, 3),
                    "seconds_per_page": round(seconds / max(1, pages), 4),
                    "client_cpu_seconds_per_page": round(cpu / max(1, pages), 4),
                    "requests": dict(sorted(count.items())),
                    "dynamodb_reads_per_1000_listed": round(1000 * reads / n, 3),
                    "notified": result.stats.notified,
                    "seen_before": result.stats.seen_before,
                    "complete": result.complete,
                    "fill_seconds": round(fill_seconds, 1),
                }
            )
            print(
                f"  {n:>6} objects, {run} sweep: {seconds:7.2f} s, {dict(sorted(count.items()))}", flush=True
            )
    return rows


def model_10m(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A pass over 10 million objects (10,000 pages) from a measured per-page cost.

    moto's ListObjectsV2 walks every key of the bucket for each page, so its per-page cost
    grows with the bucket (S3's does not): the model is given from each bucket size, and the
    goal is judged on the smallest one (the page cost with the least of moto's own growth).
    """
    out: dict[str, Any] = {}
    for n in sorted({r["objects"] for r in rows}):
        entry = {}
        for run, name in (("second", "nothing_new"), ("first", "all_new_1pct_oversize")):
            row = next(r for r in rows if r["objects"] == n and r["run"] == run)
            work = PAGES_10M * row["seconds_per_page"]
            entry[name] = {
                "seconds_per_page": row["seconds_per_page"],
                "client_cpu_seconds_per_page": row["client_cpu_seconds_per_page"],
                "work_seconds": round(work),
                "invocations": math.ceil(work / WORK_PER_INVOCATION),
                "hours": round(work / 3600, 2),
            }
        out[f"from_{n}_objects"] = entry
    return out


# -- part 3: arrival latency ---------------------------------------------------------------------


def arrival(ddb: Any, s3: Any, rounds: int = 5) -> dict[str, Any]:
    from vaultmail.scanner.arrival import notify_arrival

    bucket, table = "bench-arrival", "bench-arrival-state"
    s3.create_bucket(Bucket=bucket)
    create_table(ddb, table)
    settings = Settings(mail_bucket=bucket, notify_from=SENDER, state_table=table, size_threshold_bytes=SIZE)
    scanner = Scanner(
        settings,
        s3=s3,
        ses=boto3.client("sesv2"),
        dynamodb=ddb,
        signer=boto3.client("s3", config=Config(signature_version="s3v4")),
    )
    template = json.loads(
        (
            Path(__file__).parents[1] / "tests/functional/fixtures/events/s3-eventbridge-object-created.json"
        ).read_text()
    )
    seconds = []
    for i in range(rounds):
        key = f"arrivals/{i}.eml"
        s3.put_object(Bucket=bucket, Key=key, Body=make_mail(i))
        put_done = time.perf_counter()
        head = s3.head_object(Bucket=bucket, Key=key)
        event = json.loads(json.dumps(template))
        event["time"] = head["LastModified"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event["detail"]["bucket"]["name"] = bucket
        event["detail"]["object"].update(key=key, size=head["ContentLength"], etag=head["ETag"].strip('"'))
        result = notify_arrival(scanner, event, None)
        assert result.stats.notified == 1, result.stats
        seconds.append(time.perf_counter() - put_done)
    assert Listed  # the arrival path builds one from the event
    return {
        "rounds": rounds,
        "median_seconds": round(statistics.median(seconds), 4),
        "max_seconds": round(max(seconds), 4),
    }


def goals(
    rows: list[dict[str, Any]], models: dict[str, Any], latency: dict[str, Any]
) -> list[dict[str, Any]]:
    """One summary per goal of issue 12 (bench/_context.summary), from the measured figures."""
    second = [r for r in rows if r["run"] == "second"]
    worst = max(r["dynamodb_reads_per_1000_listed"] for r in second)
    # the worst model over the bucket sizes (moto's page cost grows with the bucket, S3's does not)
    name, model = max(models.items(), key=lambda item: item[1]["nothing_new"]["hours"])
    quiet, busy = model["nothing_new"], model["all_new_1pct_oversize"]
    lat = latency["max_seconds"]
    sizes = ", ".join(str(r["objects"]) for r in second)
    per_page = (
        f"{name.replace('_', ' ')}: {quiet['seconds_per_page']} s per page on moto, client CPU "
        f"{quiet['client_cpu_seconds_per_page']} s"
    )
    return [
        summary(
            "second sweep with nothing new: <= 1 DynamoDB read per 1,000 listed objects",
            worst <= 1,
            f"worst {worst} (sizes {sizes})",
        ),
        summary(
            "sweep of 10 million objects (nothing new) within 3 hours",
            quiet["hours"] <= 3,
            f"modelled {quiet['hours']} h, {quiet['invocations']} invocations of 280 s ({per_page})",
        ),
        summary(
            "first sweep of 10 million objects (all new, 1% oversize: 100,000 notices) within 3 hours",
            busy["hours"] <= 3,
            f"modelled {busy['hours']} h ({per_page})",
        ),
        summary(
            "arrival notice within 2 minutes",
            lat <= 120,
            f"{lat} s from the PUT to the SES send, worst of the rounds (EventBridge and SQS delivery "
            "not included)",
        ),
    ]


if __name__ == "__main__":
    started = context()
    result = main()
    show(result)
    moto = spawn_moto()
    try:
        os.environ.update(aws_env(moto.url))
        boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
        ddb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        rows = sweeps(ddb, s3)
        latency = arrival(ddb, s3)
    finally:
        moto.stop()
    model = model_10m(rows)
    write(
        "scanner",
        {"per_mail": result, "sweeps": rows, "model_10m": model, "arrival": latency},
        goals(rows, model, latency),
        started,
    )
