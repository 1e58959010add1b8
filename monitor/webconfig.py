"""``TELEPATH_WEB_CONFIG``: the Prometheus exporter-toolkit web config, the part we serve.

The file format is the one every Prometheus exporter reads and ``promtool check
web-config`` validates (prometheus/exporter-toolkit, ``docs/web-configuration.md``)::

    tls_server_config:
      cert_file: server.crt        # relative paths are relative to this file
      key_file: server.key
      client_ca_file: clients.crt  # with client_auth_type, for mutual TLS
      client_auth_type: RequireAndVerifyClientCert
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$...       # bcrypt hash, e.g. htpasswd -nBC 12 prometheus

What Python's ``ssl`` module cannot do the way Go does, or what we chose not to serve,
is refused with a clear error rather than silently ignored: ``RequestClientCert`` and
``RequireAnyClientCert`` (OpenSSL asks for a client certificate only to verify it),
``min_version`` below TLS 1.2, ``max_version``, ``cipher_suites``,
``curve_preferences``, ``prefer_server_cipher_suites``, ``client_allowed_sans``, inline
``cert``/``key`` and ``http_server_config``. Keys the format does not know are errors,
as they are for promtool.

Parsing is pure apart from reading the named files; :func:`server_ssl_context` loads
them, so a key that does not match its certificate is found by ``check`` too.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from monitor.errors import WebConfigError

#: exporter-toolkit's names → what OpenSSL does with the client's certificate.
CLIENT_AUTH: Final[Mapping[str, ssl.VerifyMode]] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNSUPPORTED_CLIENT_AUTH: Final = frozenset({"RequestClientCert", "RequireAnyClientCert"})
MIN_VERSIONS: Final[Mapping[str, ssl.TLSVersion]] = {
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
OLD_VERSIONS: Final = frozenset({"TLS10", "TLS11"})
TLS_KEYS: Final = frozenset(
    {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version"}
)
#: Known to exporter-toolkit, not served by us.
UNSUPPORTED_TLS_KEYS: Final = frozenset(
    {
        "cert",
        "key",
        "max_version",
        "cipher_suites",
        "curve_preferences",
        "prefer_server_cipher_suites",
        "client_allowed_sans",
    }
)
TOP_KEYS: Final = frozenset({"tls_server_config", "basic_auth_users"})
UNSUPPORTED_TOP_KEYS: Final = frozenset({"http_server_config"})
BCRYPT_PREFIXES: Final = ("$2a$", "$2b$", "$2y$")


@dataclass(frozen=True)
class TlsSettings:
    """``tls_server_config``, its paths resolved against the web config's directory."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"


@dataclass(frozen=True)
class WebConfig:
    """What the HTTP server enforces: TLS when ``tls`` is set, basic auth when ``users``
    is not empty. ``users`` maps a user name to its bcrypt hash; never log it."""

    path: Path
    tls: TlsSettings | None = None
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """One line for the start-up log: what is on, never a hash."""
        parts = ["TLS" if self.tls else "no TLS"]
        if self.tls and self.tls.client_auth_type != "NoClientCert":
            parts.append(f"client certificates ({self.tls.client_auth_type})")
        parts.append(f"basic auth for {len(self.users)} users" if self.users else "no basic auth")
        return ", ".join(parts)


def load_web_config(path: Path) -> WebConfig:
    """Read and validate a web config file; check that its TLS files load.

    Raises:
        WebConfigError: every problem found, one per line, each prefixed by the path.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WebConfigError(f"TELEPATH_WEB_CONFIG {path}: cannot be read: {exc}") from None
    config = parse_web_config(text, path)
    if config.tls is not None:
        server_ssl_context(config.tls, path)
    return config


def parse_web_config(text: str, path: Path) -> WebConfig:
    """Validate the text of a web config (files named in it are not opened here)."""
    problems: list[str] = []
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise WebConfigError(f"{path}{where}: not valid YAML") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebConfigError(f"{path}: must be a mapping with tls_server_config and/or "
                             "basic_auth_users")  # fmt: skip
    for key in data:
        if key in UNSUPPORTED_TOP_KEYS:
            problems.append(f"{path}: {key} is not supported by telepath-monitor; remove it")
        elif key not in TOP_KEYS:
            problems.append(f"{path}: unknown key {_show(key)}")
    tls = _tls(data.get("tls_server_config"), path, problems)
    users = _users(data.get("basic_auth_users"), path, problems)
    if problems:
        raise WebConfigError("\n".join(problems))
    return WebConfig(path=path, tls=tls, users=users)


def _show(value: object) -> str:
    return repr(str(value)[:60])


def _tls(section: Any, path: Path, problems: list[str]) -> TlsSettings | None:
    if section is None:
        return None
    where = f"{path}: tls_server_config"
    if not isinstance(section, dict):
        problems.append(f"{where} must be a mapping")
        return None
    for key in section:
        if key in UNSUPPORTED_TLS_KEYS:
            problems.append(f"{where}.{key} is not supported by telepath-monitor; remove it")
        elif key not in TLS_KEYS:
            problems.append(f"{where}: unknown key {_show(key)}")
    texts: dict[str, str] = {}
    for key in TLS_KEYS & section.keys():
        value = section[key]
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}.{key} must be a non-empty string")
        else:
            texts[key] = value.strip()
    for key in ("cert_file", "key_file"):
        if key not in section:
            problems.append(f"{where}.{key} is required (TLS needs a certificate and its key)")
    auth = texts.get("client_auth_type", "NoClientCert")
    if auth in UNSUPPORTED_CLIENT_AUTH:
        problems.append(
            f"{where}.client_auth_type {auth} is not supported (OpenSSL requests a client "
            "certificate only to verify it): use VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert"
        )
    elif auth not in CLIENT_AUTH:
        problems.append(f"{where}.client_auth_type must be one of {', '.join(CLIENT_AUTH)}")
    has_ca = "client_ca_file" in texts
    if auth in {"VerifyClientCertIfGiven", "RequireAndVerifyClientCert"} and not has_ca:
        problems.append(f"{where}.client_auth_type {auth} needs client_ca_file")
    if has_ca and auth == "NoClientCert":
        problems.append(
            f"{where}.client_ca_file is set without a client_auth_type that verifies "
            "client certificates"
        )
    version = texts.get("min_version", "TLS12")
    if version in OLD_VERSIONS:
        problems.append(f"{where}.min_version {version} is not supported: the lowest is TLS12")
    elif version not in MIN_VERSIONS:
        problems.append(f"{where}.min_version must be TLS12 or TLS13")
    if "cert_file" not in texts or "key_file" not in texts:
        return None
    base = path.parent
    ca = texts.get("client_ca_file")
    return TlsSettings(
        cert_file=base / texts["cert_file"],
        key_file=base / texts["key_file"],
        client_ca_file=None if ca is None else base / ca,
        client_auth_type=auth,
        min_version=version,
    )


def _users(section: Any, path: Path, problems: list[str]) -> dict[str, bytes]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        problems.append(f"{path}: basic_auth_users must map user names to bcrypt hashes")
        return {}
    users: dict[str, bytes] = {}
    for name, hashed in section.items():
        if not isinstance(name, str) or not name or ":" in name:
            problems.append(f"{path}: basic_auth_users: user names are non-empty text without ':'")
            continue
        # The message names the user, never the value: it may be a password pasted by mistake.
        if (
            not isinstance(hashed, str)
            or not hashed.startswith(BCRYPT_PREFIXES)
            or len(hashed) != 60
        ):
            problems.append(
                f"{path}: basic_auth_users.{name} is not a bcrypt hash ($2a$/$2b$/$2y$, "
                "60 characters); make one with: htpasswd -nBC 12 '' | tr -d ':\\n'"
            )
            continue
        users[name] = hashed.encode("ascii", "replace")
    return users


def server_ssl_context(tls: TlsSettings, path: Path) -> ssl.SSLContext:
    """An SSLContext for the server from ``tls``; loading errors name the file, not its data.

    Raises:
        WebConfigError: a file is missing, unreadable, or the key does not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSIONS[tls.min_version]
    where = f"{path}: tls_server_config"
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(
            f"{where}: cannot load cert_file {tls.cert_file} with key_file {tls.key_file}: "
            f"{_reason(exc)}"
        ) from None
    context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(
                f"{where}: cannot load client_ca_file {tls.client_ca_file}: {_reason(exc)}"
            ) from None
    return context


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or "not a PEM certificate or key, or they do not match"
    return exc.strerror or type(exc).__name__
