"""Read and parse only the header block of a raw mail (pure, no I/O beyond the given stream).

The package, by job:

* :mod:`.block`: find the end of the header block, read it (at most ``HEADER_CAP`` bytes, as
  few as possible from a stream), decode it (UTF-8, else Windows-1252 per sequence);
* :mod:`.fields`: locate the fields (names and colons only; obsolete white space before the
  colon, an mbox ``From `` line, lines that are not headers);
* :mod:`.addresses` and :mod:`.scan`: the mailboxes of address headers (the stdlib's strict
  parser within bounds, else a linear RFC 5322 scan; never display-name text);
* :mod:`.reader`: :func:`parse_header_block` and :func:`read_headers`, the entry points;
* :mod:`.model` and :mod:`.domains`: the results, and comparable domains.

Values are parsed by the standard library's ``email`` package with ``policy.default``; every
occurrence of a header is used (``get_all`` semantics). Every path is linear or bounded: no
input makes the reader raise anything but NotAMail (see :func:`parse_header_block`).
"""

from .addresses import normalize_address
from .block import (
    HEADER_CAP,
    READ_CHUNK,
    cut_header_block,
    decode_header_block,
    header_end,
    read_header_block,
)
from .domains import domain_key
from .model import Mailbox, MailHeaders
from .reader import ADDRESS_FIELDS, TEXT_FIELDS, parse_header_block, read_headers

__all__ = [
    "ADDRESS_FIELDS",
    "HEADER_CAP",
    "READ_CHUNK",
    "TEXT_FIELDS",
    "MailHeaders",
    "Mailbox",
    "cut_header_block",
    "decode_header_block",
    "domain_key",
    "header_end",
    "normalize_address",
    "parse_header_block",
    "read_header_block",
    "read_headers",
]
