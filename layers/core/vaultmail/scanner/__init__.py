"""The oversize scanner: find mails at or over the size limit, notify their recipients once.

Two paths, one set of claims in the state table (so nobody is told twice):

* the **arrival path** (:meth:`Scanner.notify_object`): one object named by an S3
  "Object Created" event (through EventBridge and SQS) or an S3 Batch Operations task: its
  header block is read (64 KiB ranged GETs), no listing;
* the **sweep** (:meth:`Scanner.run`), the backstop on a schedule: lists the bucket under each
  prefix, resuming after a cursor, skipping what a completed pass decided (the watermark).

The package, by job (each module reads top-down):

=================  ==========================================================================
``plan``           pure: what to do with each listed object; prefix order; the deadline
``listing``        the sweep: pages, cursors, the cut before the deadline, watermarks
``passes``         DynamoDB adapter for the cursor and watermark items
``mail``           one oversize mail: read its header block, notify it or say why not
``delivery``       the claim and the split sends of one notice
``conclusions``    how a mail's sending ends (notified, released, given up)
``claims``         the retried state writes of a claim, the ones left for the end of the run
``links``          presigned download links and their signing keys
``woomera``        SES Woomera's processedEmails.json import
``stats``          counters, per-mail outcomes, the run's result, sending the admin's mail
``statsmail``      the admin's stats mail, composed (pure)
``arrival``        the arrival path's events (EventBridge in SQS, S3 Batch Operations, continuation)
``core``           :class:`Scanner`: the clients, and the two paths
=================  ==========================================================================
"""

from .core import DEFAULT_MARGIN_MS, WATERMARK_MARGIN, Scanner
from .links import sign_link, signing_credentials
from .listing import PAGE_SIZE
from .plan import (
    Decision,
    Listed,
    candidate_ids,
    distinct_prefixes,
    in_prefixes,
    is_oversize,
    matches,
    out_of_time,
    plan,
    prefix_order,
)
from .stats import MailOutcome, ScanResult, ScanStats, StatsMail
from .woomera import ImportResult, import_woomera, load_woomera, parse_woomera

__all__ = [
    "DEFAULT_MARGIN_MS",
    "PAGE_SIZE",
    "WATERMARK_MARGIN",
    "Decision",
    "ImportResult",
    "Listed",
    "MailOutcome",
    "ScanResult",
    "ScanStats",
    "Scanner",
    "StatsMail",
    "candidate_ids",
    "distinct_prefixes",
    "import_woomera",
    "in_prefixes",
    "is_oversize",
    "load_woomera",
    "matches",
    "out_of_time",
    "parse_woomera",
    "plan",
    "prefix_order",
    "sign_link",
    "signing_credentials",
]
