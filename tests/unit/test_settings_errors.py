"""Settings from the environment; the error tree and its SDK exit codes."""

from __future__ import annotations

import dataclasses

import pytest

from vaultmail import errors
from vaultmail.archive import check_size
from vaultmail.settings import MAX_MAIL_BYTES, Settings


def test_defaults_and_lists() -> None:
    s = Settings.from_env({"PRIMARY_DOMAIN": " Acme.COM, example.org ,", "SCAN_PREFIXES": "a/,b/"})
    assert s.primary_domains == ("acme.com", "example.org")
    assert s.scan_prefixes == ("a/", "b/")
    assert s.scan_suffixes == (".eml",)
    assert s.size_threshold_bytes == 40_000_000  # SES over SMTP and its v2 API; 10485760 for v1 senders
    assert s.link_expiry_seconds == 1_209_600 and s.link_base_url is None


def test_empty_suffix_list_means_every_object() -> None:
    assert Settings.from_env({"SCAN_SUFFIXES": ""}).scan_suffixes == ()


def test_settings_are_frozen_and_hide_the_key() -> None:
    s = Settings.from_env({"API_KEY": "top-secret"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.api_key = "x"  # type: ignore[misc]
    assert "top-secret" not in repr(s)


@pytest.mark.parametrize(
    "env",
    [{"LINK_EXPIRY_SECONDS": "7776001"}, {"SIZE_THRESHOLD_BYTES": "ten"}, {"PRIMARY_DOMAIN": "a..b"}],
)
def test_bad_settings_are_configuration_errors(env: dict[str, str]) -> None:
    with pytest.raises(errors.ConfigurationError) as err:
        Settings.from_env(env)
    assert err.value.exit_code == 3


def test_require_names_the_environment_variable() -> None:
    with pytest.raises(errors.ConfigurationError, match="PRIMARY_DOMAIN"):
        Settings.from_env({}).require("primary_domains")


def test_every_error_has_an_sdk_exit_code() -> None:
    expected = {
        errors.InvalidArguments: 3,
        errors.NotAMail: 3,
        errors.InvalidRecipient: 4,
        errors.UploadFailed: 5,
        errors.MailTooLarge: 5,
        errors.ApiKeyRefused: 5,
        errors.NoPrimaryDomainRecipient: 6,
        errors.StorageError: 1,
    }
    for cls, code in expected.items():
        assert issubclass(cls, errors.VaultmailError)
        assert cls("x").exit_code == code
    assert errors.MailTooLarge("x").transient is False
    assert errors.UploadFailed("x").transient is True


def test_50_mb_guard() -> None:
    check_size(MAX_MAIL_BYTES)
    with pytest.raises(errors.MailTooLarge):
        check_size(MAX_MAIL_BYTES + 1)
