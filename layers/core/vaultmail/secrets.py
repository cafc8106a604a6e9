"""The API key: Secrets Manager through Powertools Parameters (cached), else ``API_KEY``."""

from __future__ import annotations

import json

from .errors import ConfigurationError
from .settings import Settings

SECRET_MAX_AGE = 300  # seconds a fetched key is cached in the execution environment


def api_key(settings: Settings) -> str:
    """The key from API_KEY_SECRET_ARN (a plain string or JSON ``{"apiKey": ...}``), else API_KEY.

    Cached for SECRET_MAX_AGE seconds; :func:`forget_api_key` drops it after the API refused
    it, so that a rotated or corrected secret is used at once.
    """
    if settings.api_key_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        try:
            value = parameters.get_secret(settings.api_key_secret_arn, max_age=SECRET_MAX_AGE)
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigurationError(
                f"cannot read the API key secret {settings.api_key_secret_arn}: {type(exc).__name__}"
            ) from exc
        return _checked(_key_from_secret(str(value)))
    if settings.api_key:
        return _checked(settings.api_key)
    raise ConfigurationError("no API key: set API_KEY (local runs) or API_KEY_SECRET_ARN (AWS)")


def _checked(key: str) -> str:
    """The key without surrounding whitespace; refused (never shown) if it has other odd characters.

    An HTTP header cannot carry them, and requests would put the value in its error message.
    """
    key = key.strip()
    if not key:
        raise ConfigurationError("the API key is empty")
    if any(not ("!" <= ch <= "~") for ch in key):
        raise ConfigurationError("the API key has spaces, control or non-ASCII characters: check the secret")
    return key


def _key_from_secret(value: str) -> str:
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigurationError("the API key secret is not valid JSON") from None
        for name in ("apiKey", "api_key", "API_KEY", "key"):
            if isinstance(data, dict) and data.get(name):
                return str(data[name])
        raise ConfigurationError('the API key secret is JSON without an "apiKey" field')
    if not text:
        raise ConfigurationError("the API key secret is empty")
    return text


def forget_api_key() -> None:
    """Drop the cached secret (the API refused the key): the next :func:`api_key` reads it again."""
    import sys

    parameters = sys.modules.get("aws_lambda_powertools.utilities.parameters")
    if parameters is not None:  # nothing cached if Powertools Parameters never loaded
        parameters.clear_caches()
