"""The API key never reaches a log, a result string or an error message, even when it is malformed."""

from __future__ import annotations

import pytest
import responses

from vaultmail import api
from vaultmail.client import UploadClient
from vaultmail.errors import ConfigurationError, UploadFailed
from vaultmail.secrets import _key_from_secret, api_key
from vaultmail.settings import Settings

KEY = "sk-LEAKED-123"


def test_surrounding_whitespace_is_dropped() -> None:
    assert api_key(Settings(api_key=f"{KEY}\n")) == KEY  # `echo key > file`: a trailing newline
    assert _key_from_secret(f'{{"apiKey": " {KEY} "}}') == f" {KEY} "  # JSON keeps it: _checked drops it


@pytest.mark.parametrize("bad", [f"sk-{chr(10)}LEAK", "sk LEAK", "sk-\u00e9LEAK", "sk-\x00LEAK"])
def test_a_key_no_header_can_carry_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        api_key(Settings(api_key=bad))
    assert "LEAK" not in caught.value.message
    assert caught.value.transient  # a setting to fix: the event waits in the dead-letter queue


@responses.activate
def test_a_request_that_cannot_be_built_does_not_echo_its_headers() -> None:
    client = UploadClient("https://api.example.test", f" {KEY}")  # requests: InvalidHeader, value in text
    request = api.UploadRequest(("acme.com",), ("a@acme.com",), None, 10, "0" * 64, None)
    with pytest.raises(UploadFailed) as caught:
        client.request_slot(request)
    assert "InvalidHeader" in caught.value.message
    assert KEY not in caught.value.message and caught.value.__cause__ is None
