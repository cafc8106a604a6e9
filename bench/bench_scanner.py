"""The oversize scanner against SES Woomera's way: bytes read and time per oversize mail.

Run by ``make bench`` (not by pytest). moto runs in its own process; N oversize mails
(12 MiB each) are put in a bucket. Measured, per mail:

* scanner, header read: the ranged GETs of :func:`vaultmail.s3.read_headers` alone;
* scanner, whole run: a complete :class:`vaultmail.scanner.Scanner` run (listing, state
  lookups, header read, claim, signing, SES send, completion, tag) divided by N;
* Woomera's way: download each mail whole to a temporary file (as ses-woomera.py did with
  ``get_contents_to_filename``) and scan its lines for headers.

Bytes read are counted on the GetObject bodies. Three rounds; medians are reported, and
everything is written to bench/results/scanner.json.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from vaultmail import s3 as s3io
from vaultmail.scanner import Scanner
from vaultmail.settings import Settings
from vaultmail_dev.servers import aws_env, spawn_moto

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


if __name__ == "__main__":
    result = main()
    show(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
