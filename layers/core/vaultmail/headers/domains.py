"""Comparable forms of domains (IDN aware), for matching addresses to primary domains."""

from __future__ import annotations

import unicodedata

_IDEOGRAPHIC_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def domain_key(domain: str) -> str:
    """Comparable form of a domain: lower-case A-label (``bücher.de`` -> ``xn--bcher-kva.de``).

    Each label is NFC-normalised, lower-cased and punycoded by itself. The stdlib's ``idna``
    codec is IDNA 2003, whose nameprep maps ``ß`` to ``ss`` (and full-width letters to ASCII):
    with it, ``straße.de`` would match mail to the different domain ``strasse.de``. An
    ``xn--`` label is decoded and re-encoded so that its case does not matter; one that does
    not decode to a non-ASCII label is kept as it is (so ``xn--acme-`` never equals ``acme``).
    """
    text = unicodedata.normalize("NFC", domain.strip().translate(_IDEOGRAPHIC_DOTS))
    labels = []
    for label in text.rstrip(".").lower().split("."):
        if label.startswith("xn--"):
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                decoded = ""
            decoded = unicodedata.normalize("NFC", decoded).lower()
            label = decoded if decoded and not decoded.isascii() else label
        if not label.isascii():
            label = "xn--" + label.encode("punycode").decode("ascii")
        labels.append(label)
    return ".".join(labels)
