"""``fileName`` derives from the mail's SHA-256 (design.md, docs/api-contract.md): stable, distinct."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from vaultmail import api
from vaultmail.archive import plan_upload
from vaultmail.headers import read_headers
from vaultmail.vaults import select_vaults

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MAIL = b"From: amit@acme.com\r\nTo: ops@acme.com\r\nSubject: q1\r\n\r\nbody\r\n"


def test_the_namespace_is_the_documented_one() -> None:
    documented = uuid.uuid5(uuid.NAMESPACE_URL, "urn:vaultmail:active-store:v1:fileName")
    assert documented == api.FILE_NAME_NAMESPACE


def test_hex_to_uuid5_dot_eml() -> None:
    digest = hashlib.sha256(MAIL).hexdigest()
    name = api.file_name_for(digest)
    stem, dot, ext = name.rpartition(".")
    assert (dot, ext) == (".", "eml")
    parsed = uuid.UUID(stem)
    assert str(parsed) == stem  # canonical, lower-case, hyphenated
    assert parsed.version == 5 and parsed.variant == uuid.RFC_4122
    assert parsed == uuid.uuid5(api.FILE_NAME_NAMESPACE, digest)


def test_known_values_do_not_drift() -> None:
    """Objects already stored carry these names: a change of derivation would store copies."""
    known = json.loads((FIXTURES / "file-names.json").read_text())
    assert {digest: api.file_name_for(digest) for digest in known} == known


def test_stable_and_case_insensitive() -> None:
    digest = hashlib.sha256(MAIL).hexdigest()
    assert api.file_name_for(digest) == api.file_name_for(digest.upper()) == api.file_name_for(digest)


def test_different_mails_differ() -> None:
    mails = [MAIL, MAIL + b"!", MAIL.replace(b"q1", b"q2"), b"", b"\x00" * 64]
    names = {api.file_name_for(hashlib.sha256(m).hexdigest()) for m in mails}
    assert len(names) == len(mails)


@pytest.mark.parametrize("bad", ["", "0" * 63, "0" * 65, "g" * 64, "not a digest"])
def test_a_non_digest_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        api.file_name_for(bad)


def test_the_request_cannot_carry_another_name() -> None:
    """A plan made twice for the same mail (a retried invocation) asks for the same fileName."""
    headers = read_headers(MAIL)
    selection = select_vaults(headers, ("acme.com",))
    digest = hashlib.sha256(MAIL).hexdigest()
    first = plan_upload(headers, selection, size=len(MAIL), sha256=digest).request
    again = plan_upload(headers, selection, size=len(MAIL), sha256=digest).request
    assert first.body()["fileName"] == again.body()["fileName"] == api.file_name_for(digest)
    assert first.headers("k")[api.IDEMPOTENCY_HEADER] == digest
