"""Vault selection: which vaults a mail goes to, and the -r / -s ids of the SDK."""

from __future__ import annotations

import socket

import pytest

from vaultmail.errors import InvalidRecipient, NoPrimaryDomainRecipient
from vaultmail.headers import MailHeaders, read_headers
from vaultmail.vaults import Selection, parse_ids, select_vaults


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests: pure code, no network."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a unit test tried to open a socket")

    monkeypatch.setattr(socket, "socket", refuse)


def mail(**fields: str) -> MailHeaders:
    text = "".join(f"{name.replace('_', '-')}: {value}\n" for name, value in fields.items())
    return read_headers((text + "\nbody\n").encode("utf-8"))


# --- parse_ids (-r / -s) -------------------------------------------------------------------------


def test_parse_ids_comma_list() -> None:
    ids = parse_ids(" amit@acme.com, Ops@ACME.com ,,ops@acme.com", ["acme.com"])
    assert ids == ["amit@acme.com", "ops@acme.com"]  # lower-cased, deduplicated, in order


def test_parse_ids_list_of_comma_lists() -> None:
    ids = parse_ids(["a@acme.com,b@acme.com", "c@acme.co.uk"], ["acme.com", "acme.co.uk"])
    assert ids == ["a@acme.com", "b@acme.com", "c@acme.co.uk"]


@pytest.mark.parametrize("values", [None, "", " , ", []])
def test_parse_ids_nothing(values: str | list[str] | None) -> None:
    assert parse_ids(values, ["acme.com"]) == []


def test_parse_ids_angle_brackets_are_tolerated() -> None:
    assert parse_ids("<amit@acme.com>", ["acme.com"]) == ["amit@acme.com"]


@pytest.mark.parametrize(
    "bad",
    [
        "amit",  # no domain
        "amit@",
        "@acme.com",
        "amit@example.org",  # not a primary domain
        "amit@sub.acme.com",  # subdomains are other domains
        "amit@acme.com.evil.org",
        "Amit <amit@acme.com>",  # a bare address is expected
        "amit smith@acme.com",
        "amit@acme.com;ops@acme.com",  # commas separate ids
        "ok@acme.com,bad@example.org",  # one bad id spoils the list
    ],
)
def test_parse_ids_invalid(bad: str) -> None:
    with pytest.raises(InvalidRecipient) as info:
        parse_ids(bad, ["acme.com"])
    assert info.value.exit_code == 4
    assert info.value.reason == "InvalidRecipient"
    assert "acme.com" in info.value.message


def test_parse_ids_without_primary_domain() -> None:
    with pytest.raises(InvalidRecipient, match="PRIMARY_DOMAIN is empty"):
        parse_ids("amit@acme.com", [])


def test_parse_ids_idn_either_way() -> None:
    assert parse_ids("Jörg@XN--BCHER-KVA.DE", ["bücher.de"]) == ["jörg@bücher.de"]
    assert parse_ids("info@Bücher.de", ["xn--bcher-kva.de"]) == ["info@xn--bcher-kva.de"]


def test_parse_ids_primary_domain_as_a_string() -> None:
    # A PRIMARY_DOMAIN value passed as is (not split) is a comma-separated list, not characters.
    assert parse_ids("a@acme.co.uk", "acme.com, @ACME.co.uk.") == ["a@acme.co.uk"]


# --- select_vaults -------------------------------------------------------------------------------


def test_vaults_from_from_to_cc_bcc_sorted_and_deduplicated() -> None:
    headers = mail(
        From="Zed <Zed@Acme.com>",
        To="b@acme.com, outsider@example.org, B@ACME.COM",
        Cc="a@acme.com",
        Bcc="zed@acme.com, c@acme.com",
    )
    selection = select_vaults(headers, ["acme.com"])
    assert selection == Selection(
        vaults=("a@acme.com", "b@acme.com", "c@acme.com", "zed@acme.com"),
        domains=("acme.com",),
        sender="zed@acme.com",
    )


def test_reply_to_and_sender_headers_do_not_make_vaults() -> None:
    headers = mail(From="x@example.org", Sender="s@acme.com", Reply_To="r@acme.com", To="t@acme.com")
    selection = select_vaults(headers, ["acme.com"])
    assert selection.vaults == ("t@acme.com",)
    assert selection.sender is None


def test_no_primary_domain_recipient() -> None:
    headers = mail(From="a@example.org", To="b@sub.acme.com", Cc="c@acme.com.example.org")
    with pytest.raises(NoPrimaryDomainRecipient) as info:
        select_vaults(headers, ["acme.com"])
    assert info.value.exit_code == 6
    assert info.value.reason == "NoPrimaryDomainRecipient"
    assert "acme.com" in info.value.message


def test_no_primary_domain_configured() -> None:
    with pytest.raises(NoPrimaryDomainRecipient, match="PRIMARY_DOMAIN is empty"):
        select_vaults(mail(To="a@acme.com"), [])


def test_recipients_are_added_to_the_header_vaults() -> None:
    headers = mail(From="a@example.org", To="t@acme.com")
    selection = select_vaults(headers, ["acme.com"], recipients="x@acme.com,T@acme.com")
    assert selection.vaults == ("t@acme.com", "x@acme.com")


def test_recipients_rescue_a_mail_without_primary_recipient() -> None:
    headers = mail(From="a@example.org", To="b@example.org")
    selection = select_vaults(headers, ["acme.com"], recipients=["archive@acme.com"])
    assert selection.vaults == ("archive@acme.com",)
    assert selection.sender is None


def test_invalid_recipient_wins_over_no_primary_recipient() -> None:
    headers = mail(From="a@example.org", To="b@example.org")
    with pytest.raises(InvalidRecipient) as info:
        select_vaults(headers, ["acme.com"], recipients="archive@example.org")
    assert info.value.exit_code == 4


def test_sender_choice() -> None:
    headers = mail(From="Boss <boss@acme.com>, other@acme.com", To="t@acme.com")
    # Default: the first From address on a primary domain.
    assert select_vaults(headers, ["acme.com"]).sender == "boss@acme.com"
    # -s names the sender vault, and makes it a vault.
    selection = select_vaults(headers, ["acme.com"], sender="Sender@ACME.com")
    assert selection.sender == "sender@acme.com"
    assert "sender@acme.com" in selection.vaults
    # A From that is not on a primary domain gives no sender.
    assert select_vaults(mail(From="x@example.org", To="t@acme.com"), ["acme.com"]).sender is None


def test_sender_from_the_first_primary_from_address() -> None:
    headers = mail(From="x@example.org, second@acme.com", To="t@acme.com")
    assert select_vaults(headers, ["acme.com"]).sender == "second@acme.com"


@pytest.mark.parametrize("bad", ["s@example.org", "a@acme.com,b@acme.com", "nobody"])
def test_invalid_sender(bad: str) -> None:
    with pytest.raises(InvalidRecipient) as info:
        select_vaults(mail(To="t@acme.com"), ["acme.com"], sender=bad)
    assert info.value.exit_code == 4


def test_sender_alone_is_enough() -> None:
    selection = select_vaults(mail(From="x@example.org"), ["acme.com"], sender="me@acme.com")
    assert selection.vaults == ("me@acme.com",)
    assert selection.sender == "me@acme.com"


def test_multiple_primary_domains() -> None:
    headers = mail(
        From="ceo@ACME.CO.UK",
        To="a@acme.com, b@example.org",
        Cc="c@acme-group.net, d@sub.acme.com",
    )
    selection = select_vaults(headers, ["acme.com", "Acme.co.uk", "acme-group.net"])
    assert selection.vaults == ("a@acme.com", "c@acme-group.net", "ceo@acme.co.uk")
    assert selection.domains == ("acme-group.net", "acme.co.uk", "acme.com")
    assert selection.sender == "ceo@acme.co.uk"


def test_configured_spelling_of_the_primary_domain_is_used() -> None:
    headers = mail(To="a@ACME.COM, b@acme.com.")
    for configured in (["ACME.com"], [" acme.com. "], ["@acme.com"], "acme.com"):
        assert select_vaults(headers, configured).vaults == ("a@acme.com", "b@acme.com")


@pytest.mark.parametrize(
    ("to", "configured", "vault"),
    [
        ("Jörg <jörg@bücher.de>", "bücher.de", "jörg@bücher.de"),
        ("Jörg <jörg@bücher.de>", "xn--bcher-kva.de", "jörg@xn--bcher-kva.de"),
        ("shop@XN--BCHER-KVA.DE", "bücher.de", "shop@bücher.de"),
        ("shop@xn--bcher-kva.de", "XN--BCHER-KVA.DE", "shop@xn--bcher-kva.de"),
        ("=?utf-8?q?M=C3=BCller?= <mueller@BÜCHER.DE>", "Bücher.de", "mueller@bücher.de"),
    ],
)
def test_idn_domains_match_either_way(to: str, configured: str, vault: str) -> None:
    selection = select_vaults(mail(To=to), [configured])
    assert selection.vaults == (vault,)
    assert selection.domains == (vault.rpartition("@")[2],)


def test_idn_lookalikes_do_not_match() -> None:
    # IDNA 2003 (the stdlib codec) maps ß to ss and full-width letters to ASCII; not here.
    headers = mail(To="x@strasse.de, y@ａｃｍｅ.com, z@xn--acme-.com")
    with pytest.raises(NoPrimaryDomainRecipient):
        select_vaults(headers, ["straße.de", "acme.com"])


def test_two_spellings_of_one_configured_domain() -> None:
    selection = select_vaults(mail(To="a@bücher.de"), ["bücher.de", "xn--bcher-kva.de"])
    assert selection.vaults == ("a@bücher.de",)  # the first spelling wins


def test_vault_ids_are_lower_cased_local_parts() -> None:
    headers = mail(To='"Sales Team"@acme.com, Amit.Shah@Acme.Com')
    assert select_vaults(headers, ["acme.com"]).vaults == ('"sales team"@acme.com', "amit.shah@acme.com")
