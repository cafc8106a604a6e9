"""The oversize scanner: find mails at or over the size limit, notify their recipients once.

Two paths, one set of claims in the state table (so nobody is told twice):

* the **arrival path** (:meth:`Scanner.notify_object`): one object named by an S3
  "Object Created" event (through EventBridge and SQS) or an S3 Batch Operations task: its
  header block is read (64 KiB ranged GETs), no listing;
* the **sweep** (:meth:`Scanner.run`), the backstop on a schedule: lists the bucket under each
  prefix, resuming after a cursor, skipping what a completed pass decided (the watermark).

The package, by job, in the order its imports run (each module imports only those above it):

=================  ==========================================================================
``plan``           pure: what to do with each listed object; prefix order; the deadline
``stats``          data: counters, per-mail outcomes, the run's result
``tally``          data: what one mail came to (MailResult), and the one place it is counted
``statsmail``      pure: the admin's stats mail, composed
``compose``        pure: who a notice goes to (the recipient cap), the notice around its link
``conclusions``    pure: how a mail's sending ends, and the state write that ends its claim
``listing``        S3 adapter: the pages of one prefix's listing
``reading``        S3 adapter: one mail's header block
``passes``         DynamoDB adapter for the cursor and watermark items
``links``          the notice's link (the one seam where it is made) and its signing keys
``statewrites``    state writes retried, and the claim endings left for the end of the run
``notify``         the sender: claim, split sends, conclusion; DryRun sends nothing
``steps``          one decision -> one MailResult (read, audience, send)
``sweep``          the loop: the arrival path and the sweep (pages, cursors, watermarks)
``core``           :class:`Scanner`: the clients, and the two paths
``woomera``        SES Woomera's processedEmails.json import
``arrival``        the arrival path's events (EventBridge in SQS, S3 Batch Operations, continuation)
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
