"""Container health probe: ``python -m monitor.healthcheck [HOST:PORT] [--timeout S]``.

The image's ``HEALTHCHECK`` runs this instead of curl, which the slim image does not ship.
It asks the daemon's own ``/healthz`` (alive, not ready: a restart cannot fix a stale API)
on the address from ``TELEPATH_LISTEN`` and exits 0 on a 200. Otherwise it exits 1 with
the reason in one line on stderr, which ``docker inspect`` shows under ``.State.Health``.
With a ``TELEPATH_WEB_CONFIG`` that turns TLS on it speaks https to the same loopback
address, without verifying the certificate (issued for the service's name, and this
asks the daemon in its own container whether it lives; /healthz needs no password).
"""

from __future__ import annotations

import argparse
import http.client
import os
import ssl
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import Message
from pathlib import Path
from typing import IO
from urllib.error import HTTPError, URLError

from monitor.errors import WebConfigError
from monitor.settings import ENV_PREFIX, Settings, parse_listen
from monitor.webconfig import parse_web_config

#: The daemon's own default, so both always agree.
DEFAULT_LISTEN: str = Settings.model_fields["listen"].default
#: Seconds for the whole probe; the image's HEALTHCHECK --timeout is longer, so a hung
#: daemon is reported by this line rather than by Docker killing the probe.
DEFAULT_TIMEOUT = 3.0

#: A daemon bound to all interfaces is reached on the loopback of the same family.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def healthz_url(listen: str, *, tls: bool = False) -> str:
    """The URL that reaches ``/healthz`` of a daemon listening on ``listen``.

    Raises:
        ValueError: ``listen`` is not ``host:port`` (the daemon would refuse it too).
    """
    host, port = parse_listen(listen)
    host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}/healthz"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 200, not something to follow."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


def probe(url: str, timeout: float) -> str | None:
    """GET ``url``; None when it answers 200, else the reason it is unhealthy."""
    # No proxy: HTTP_PROXY in the container's environment is meant for the Telepath API,
    # and would otherwise carry this loopback probe to the proxy.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # our own daemon on loopback: liveness only
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _NoRedirect(), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(url, timeout=timeout) as response:
            status = int(response.status)
    except HTTPError as exc:
        exc.close()
        return f"HTTP {exc.code}"
    except URLError as exc:
        return str(exc.reason)
    except (OSError, http.client.HTTPException) as exc:
        return str(exc) or type(exc).__name__
    return None if status == 200 else f"HTTP {status}"


def _tls_on(environ: Mapping[str, str]) -> bool:
    """Whether TELEPATH_WEB_CONFIG turns TLS on; an unreadable file counts as on (the
    daemon would not have started with it, and the probe then says why it fails)."""
    path = environ.get(f"{ENV_PREFIX}WEB_CONFIG")
    if not path:
        return False
    try:
        with open(path, encoding="utf-8") as file:
            return parse_web_config(file.read(), Path(path)).tls is not None
    except (OSError, UnicodeDecodeError, WebConfigError):
        return True


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Probe once; 0 healthy, 1 not (or unusable address), with the reason on stderr.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).
        env: the environment to read ``TELEPATH_LISTEN`` from (default ``os.environ``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m monitor.healthcheck",
        description="Exit 0 when the daemon's /healthz answers 200, else 1.",
    )
    parser.add_argument(
        "listen", nargs="?", default=None, help=f"host:port (default: {ENV_PREFIX}LISTEN)"
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # Docker reserves exit code 2: a usage error is unhealthy too
        return 0 if exc.code == 0 else 1
    environ = os.environ if env is None else env
    listen: str = args.listen or environ.get(f"{ENV_PREFIX}LISTEN") or DEFAULT_LISTEN
    try:
        url = healthz_url(listen, tls=_tls_on(environ))
    except ValueError as exc:
        sys.stderr.write(f"unhealthy: {ENV_PREFIX}LISTEN={listen!r} {exc}\n")
        return 1
    reason = probe(url, args.timeout)
    if reason is None:
        return 0
    sys.stderr.write(f"unhealthy: {url}: {' '.join(reason.split())}\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
