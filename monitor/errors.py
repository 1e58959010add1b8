"""Errors raised by telepath-monitor.

The tree::

    MonitorError                 exit code 1 unless noted
    ├── SettingsError            a TELEPATH_* setting or CLI flag is invalid (exit 2)
    │   └── WebConfigError       the TELEPATH_WEB_CONFIG file is invalid (exit 2)
    ├── ConfigError              alerts.yaml is invalid; carries every problem found
    ├── StateFileError           the state DB is writable by others or not by us (exit 2)
    ├── ApiError                 the Telepath API could not give us what we asked for
    │   ├── AuthError            401/403: the key was refused (never contains the key)
    │   ├── RateLimited          429 and retries exhausted; carries the wait it asked for
    │   ├── ServerError          5xx, connection errors and timeouts after retries
    │   ├── RequestRejected      other 4xx (400, 404, 409...): retrying will not help
    │   └── MalformedResponse    the body is not JSON or not the shape we understand
    ├── DeliveryError            a notifier could not deliver; `transient` says whether to retry
    └── ShutdownRequested        a wait of a poll was cut short by SIGTERM (never shown)

Only ``monitor.telepath.client`` ever sees an httpx exception; it translates them
into this tree at the boundary. Messages never contain secrets.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error telepath-monitor raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SettingsError(MonitorError):
    """A setting (environment variable or CLI flag) is invalid."""

    exit_code = 2


class WebConfigError(SettingsError):
    """The web config file (TLS, basic auth) is invalid; one problem per line."""


class ConfigError(MonitorError):
    """The config file is invalid.

    Args:
        problems: every problem found, each formatted as ``file:line:col: message``.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StateFileError(MonitorError):
    """The state DB's file or directory is unsafe or unusable; the message says the fix."""

    exit_code = 2


class ApiError(MonitorError):
    """The Telepath API did not give us what we asked for.

    Args:
        message: what went wrong, for people.
        endpoint: the endpoint template, e.g. ``/calls``, used as a metric label.
        status: the HTTP status, or None when no response arrived.
        code: ``error.code`` from the body when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str = "",
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.code = code


class AuthError(ApiError):
    """The API refused the key (401) or its permissions (403)."""


class RateLimited(ApiError):
    """The API kept answering 429 after every retry we were allowed."""


class ServerError(ApiError):
    """5xx, connection failures and timeouts that outlasted the retry budget."""


class RequestRejected(ApiError):
    """A 4xx other than 401/403/429: the request itself is wrong."""


class MalformedResponse(ApiError):
    """The response body is not JSON, or not a shape the client understands."""


class DeliveryError(MonitorError):
    """A notifier could not deliver a notification.

    Args:
        message: what went wrong, without URLs or tokens.
        transient: True when a later retry may succeed (timeouts, 5xx, 429).
        retry_after: seconds the receiver asked us to wait, when it said.
    """

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class ShutdownRequested(MonitorError):
    """The daemon is stopping: a poll's wait was cut short; the next start reads again."""
