"""DynamoDB adapter for the scanner's notification state. Takes its client as argument.

The table is the one the uploaders use for Powertools idempotency (partition key ``id`` (S),
TTL attribute ``expiration`` (N, epoch seconds)); the scanner's items have their own id
prefixes so they never meet Powertools' items:

``notice#<bucket>#<key>#<etag>``
    One oversize mail. ``status`` is ``claimed`` while a run sends its notice (``owner``,
    ``leaseUntil``: a claim whose lease has passed belongs to a crashed run and may be taken
    over), ``failed`` after a send failed (the next run retries), ``notified`` once every
    recipient was told (kept for good: no ``expiration``, so nobody is told twice),
    ``settled`` when there is nobody to tell (no recipient, or not a mail) or SES kept
    rejecting the recipients left (``rejections`` runs, see :data:`MAX_REJECTED_RUNS`):
    later runs do not read it again, until its ``expiration`` (90 days) lets a run look at
    it once more; a settled item whose ``sent`` set is not empty never expires (its
    recipients must not be told twice).
    ``sent`` (a string set) holds the recipients already told, so that a retry after a
    partial send (a mail with more than 50 recipients) tells only the others.
    ``rejectedAlone`` (a string set) holds the recipients SES rejected in a send to them
    alone (one recipient), in any run: later runs send to them apart, after the others.
    ``rejections`` counts the runs that ended with nobody left but such recipients.
    ``pending`` (a string set) is written before each SES send with the recipients of that
    send (write-ahead): it is cleared by the release, completion or settling that ends the
    claim. A ``pending`` set still there when a run claims the item belongs to a run that
    crashed, or could not record an accepted send, between the send and its record: SES may
    have accepted it, so the claim counts those recipients as told (at most once: nobody is
    told twice, at the price of at most one send's recipients never hearing, in a crash).
``cursor#<bucket>#<prefix>``
    A sweep pass of one prefix: where an invocation cut short stopped listing
    (``startAfter``), and the prefix's watermark (written by :mod:`vaultmail.scanner.passes`).

The modules: ``items`` (ids, records, claims, error conversion), ``updates`` (every write
as data, pure), ``table`` (:class:`NotificationState`: the reads, and the writes made).

Every write that matters is conditional, so overlapping runs cannot both claim a mail.
AWS errors are converted here, where they arise: a missing table or a refused permission is a
:class:`~vaultmail.errors.ConfigurationError`, anything else a (transient) ``StateError``.
"""

from .items import (
    CLAIMED,
    DEFAULT_LEASE_SECONDS,
    FAILED,
    MAX_REJECTED_RUNS,
    NOTIFIED,
    SETTLED,
    Claim,
    LeaseLost,
    Record,
    converted,
    cursor_id,
    notice_id,
)
from .table import NotificationState

__all__ = [
    "CLAIMED",
    "DEFAULT_LEASE_SECONDS",
    "FAILED",
    "MAX_REJECTED_RUNS",
    "NOTIFIED",
    "SETTLED",
    "Claim",
    "LeaseLost",
    "NotificationState",
    "Record",
    "converted",
    "cursor_id",
    "notice_id",
]
