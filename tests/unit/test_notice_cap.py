"""MAX_NOTICE_RECIPIENTS: the setting, the template parameter, and the pure audience check."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from samcli.yamlhelper import yaml_parse

from vaultmail.errors import ConfigurationError
from vaultmail.headers import parse_header_block
from vaultmail.scanner.compose import audience
from vaultmail.settings import Settings

TEMPLATE = Path(__file__).parents[2] / "template.yaml"


def test_the_setting_defaults_to_100_and_refuses_less_than_one() -> None:
    assert Settings.from_env({}).max_notice_recipients == 100
    assert Settings.from_env({"MAX_NOTICE_RECIPIENTS": "250"}).max_notice_recipients == 250
    for bad in ("0", "-1", "many"):
        with pytest.raises(ConfigurationError, match="MAX_NOTICE_RECIPIENTS"):
            Settings.from_env({"MAX_NOTICE_RECIPIENTS": bad})


def test_the_template_passes_the_parameter_to_the_scanner() -> None:
    template = yaml_parse(TEMPLATE.read_text())
    param = template["Parameters"]["MaxNoticeRecipients"]
    assert (param["Type"], param["Default"], param["MinValue"]) == ("Number", 100, 1)
    env = template["Resources"]["OversizeScannerFunction"]["Properties"]["Environment"]["Variables"]
    assert env["MAX_NOTICE_RECIPIENTS"] == {"Ref": "MaxNoticeRecipients"}


def headers_to(n: int) -> bytes:
    to = ", ".join(f"r{i}@acme.com" for i in range(n))
    return f"From: a@sender.example\r\nTo: {to}\r\nSubject: s\r\n\r\n".encode()


@given(n=st.integers(min_value=1, max_value=300), cap=st.integers(min_value=1, max_value=300))
def test_audience_sends_up_to_the_cap_and_never_over_it(n: int, cap: int) -> None:
    who = audience(parse_header_block(headers_to(n)), Settings(max_notice_recipients=cap))
    assert who.verdict == ("send" if n <= cap else "over-cap")
    assert len(who.recipients) == n and who.cap == cap


def test_no_recipient_is_not_over_the_cap() -> None:
    block = b"From: a@sender.example\r\nTo: not an address\r\nSubject: s\r\n\r\n"
    assert audience(parse_header_block(block), Settings(max_notice_recipients=1)).verdict == "no-recipients"
