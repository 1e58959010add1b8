"""URL and secret field types of the notifier and heartbeat sections: an http(s) URL,
kept secret where it carries a token, and ``${VAR:-}`` (empty) read as "not set"."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, SecretStr
from pydantic_core import PydanticCustomError

__all__ = ["HttpUrl", "OptionalSecret", "OptionalSecretHttpUrl", "SecretHttpUrl"]


def _check_url(value: str) -> None:
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("url", "expected an http:// or https:// URL")


def _url(value: str) -> str:
    _check_url(value)
    return value


def _secret_url(value: SecretStr) -> SecretStr:
    _check_url(value.get_secret_value())
    return value


def _blank_is_none(value: Any) -> Any:
    """``${VAR:-}`` gives an empty string: for an optional setting that means "not set"."""
    return None if value == "" else value


HttpUrl = Annotated[str, AfterValidator(_url)]
SecretHttpUrl = Annotated[SecretStr, AfterValidator(_secret_url)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_none)]
OptionalSecretHttpUrl = Annotated[SecretHttpUrl | None, BeforeValidator(_blank_is_none)]
