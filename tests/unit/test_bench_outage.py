"""bench/bench_outage.py's count of mails stored more than once, on the emulator's own records."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_outage

from vaultmail_dev.emulator.slots import UploadRecord


def record(upload_id: str, *, requests: int, stores: int) -> dict[str, object]:
    made = UploadRecord(
        upload_id, f"key-{upload_id}", ["amit@acme.com"], ["acme.com"], None, 10, "0" * 64, None,
        f"{upload_id}.eml", stores=stores, requests=requests,
    )
    return made.to_json()


def test_an_upload_between_its_slot_request_and_its_store_is_not_stored_twice() -> None:
    """The emulator lists an upload from its step 1 on (stores 0 until its step 2 ends): the
    last mail of the recovery, counted before its store, was reported "stored more than once"."""
    records = [record("a", requests=1, stores=1), record("b", requests=1, stores=0)]
    counts = bench_outage.store_counts(records)
    assert (counts["archived"], counts["stored_more_than_once"], counts["not_stored"]) == (1, 0, 1)


def test_stored_twice_says_whether_the_store_or_the_mail_was_sent_again() -> None:
    records = [
        record("a", requests=1, stores=2),
        record("b", requests=2, stores=2),
        record("c", requests=1, stores=1),
    ]
    counts = bench_outage.store_counts(records)
    assert (counts["archived"], counts["stored_more_than_once"]) == (3, 2)
    assert counts["stored_more_than_once_requests_and_stores"] == [[1, 2], [2, 2]]
