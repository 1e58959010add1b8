"""``TELEPATH_*`` settings: one object, read from the environment, CLI flags override.

The API key is a secret: it is a ``SecretStr``, never printed, logged or exported.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.errors import SettingsError

DEFAULT_API_URL = "https://api.telepathvoice.com/v1"
ENV_PREFIX = "TELEPATH_"


class Settings(BaseSettings):
    """Everything the daemon reads from its environment (see the README's table)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    api_key: SecretStr | None = None
    api_url: str = DEFAULT_API_URL
    config: Path = Path("alerts.yaml")
    state_db: Path = Path("telepath-monitor.db")
    #: All interfaces by default: in a container Prometheus scrapes from outside.
    listen: str = "0.0.0.0:19310"
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    #: Our own request budget per minute; lower it when the key also serves others.
    api_rate_limit: int = Field(default=6000, ge=1)
    #: Seconds to wait for the API to answer one request (connect waits at most 5 s).
    api_timeout: float = Field(default=10.0, gt=0, le=300)
    #: Prometheus web-config file (TLS, basic auth) for the HTTP server; unset: plain, open.
    web_config: Path | None = None
    #: Seconds from SIGTERM to exit, a running poll included (Kubernetes kills at 30 s).
    shutdown_grace: float = Field(default=20.0, gt=0, le=600)

    @field_validator("api_url")
    @classmethod
    def _https_or_loopback(cls, value: str) -> str:
        return check_api_url(value)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_listen(value)
        return value

    def require_api_key(self) -> SecretStr:
        """The key, or a :class:`SettingsError` naming the variable to set."""
        if self.api_key is None or not self.api_key.get_secret_value().strip():
            raise SettingsError(f"{ENV_PREFIX}API_KEY is not set: the Telepath API needs a key")
        return self.api_key

    @property
    def logging_level(self) -> int:
        level: int = logging.getLevelNamesMapping()[self.log_level]
        return level


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: the only hosts allowed plain http."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_url(value: str) -> str:
    """Refuse anything but https, except for loopback hosts (simulator, tests).

    Only the scheme and host appear in the message: a URL may carry credentials.
    """
    parts = urlsplit(value.strip())
    host = parts.hostname or ""
    if not host or parts.scheme not in {"http", "https"}:
        raise ValueError("must be an http(s) URL such as https://api.telepathvoice.com/v1")
    if parts.scheme != "https" and not is_loopback_host(host):
        raise ValueError(
            f"must use https:// (plain http is allowed only for loopback hosts), got "
            f"{parts.scheme}://{host}"
        )
    return value.strip().rstrip("/")


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces) → (host, port)."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError("must be host:port, e.g. 0.0.0.0:19310 or 127.0.0.1:9000")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104
    return host, int(port_text)


def load_settings(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read the environment, apply CLI overrides (None values are ignored).

    Args:
        overrides: field name → value from command-line flags.
        env: an environment to read instead of ``os.environ`` (tests).

    Raises:
        SettingsError: one line per invalid setting, each naming its variable.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        if env is None:
            return Settings(**given)
        prefixed = {
            k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)
        }
        known = {k: v for k, v in prefixed.items() if k in Settings.model_fields}
        return Settings.model_validate({**known, **given})
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{name} {message}")
    return "\n".join(lines)
