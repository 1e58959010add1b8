"""TELEPATH_WEB_CONFIG: the exporter-toolkit format, what we serve and what we refuse."""

from __future__ import annotations

import ssl
from pathlib import Path

import bcrypt
import pytest

from monitor.errors import SettingsError, WebConfigError
from monitor.webconfig import load_web_config, parse_web_config
from tests.support.tls import make_certs

TLS = "tls_server_config:\n  cert_file: a\n  key_file: b\n"
HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
WHERE = Path("/etc/telepath/web.yml")


def test_tls_and_users_parse_with_paths_relative_to_the_file():
    """Relative TLS paths resolve against the web config's directory, as in exporter-toolkit."""
    config = parse_web_config(
        f"tls_server_config:\n  cert_file: tls/server.crt\n  key_file: /abs/server.key\n"
        f"  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n"
        f"  min_version: TLS13\nbasic_auth_users:\n  prometheus: {HASH}\n",
        WHERE,
    )
    assert config.tls is not None
    assert config.tls.cert_file == Path("/etc/telepath/tls/server.crt")
    assert config.tls.key_file == Path("/abs/server.key")
    assert config.tls.client_ca_file == Path("/etc/telepath/ca.crt")
    assert config.tls.min_version == "TLS13"
    assert config.users == {"prometheus": HASH.encode()}
    assert HASH not in repr(config)


def test_an_empty_file_turns_nothing_on():
    """An empty web config is valid (as for promtool): no TLS, no auth."""
    config = parse_web_config("", WHERE)
    assert (config.tls, dict(config.users)) == (None, {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "must be a mapping"),
        ("foo: 1\n", "unknown key 'foo'"),
        ("http_server_config:\n  http2: false\n", "http_server_config is not supported"),
        ("tls_server_config:\n  cert_file: a\n", "key_file is required"),
        (TLS + "  cipher_suites: [x]\n",
         "tls_server_config.cipher_suites is not supported"),
        (TLS + "  client_auth_type: RequireAnyClientCert\n",
         "RequireAnyClientCert is not supported"),
        (TLS + "  client_auth_type: Maybe\n",
         "client_auth_type must be one of"),
        (TLS + "  client_auth_type: VerifyClientCertIfGiven\n",
         "needs client_ca_file"),
        (TLS + "  client_ca_file: c\n",
         "client_ca_file is set without a client_auth_type"),
        (TLS + "  min_version: TLS11\n",
         "min_version TLS11 is not supported"),
        ("tls_server_config:\n  cert_file: 3\n  key_file: b\n", "must be a non-empty string"),
        ("basic_auth_users: [a]\n", "basic_auth_users must map user names"),
        ("basic_auth_users:\n  bob: hunter2\n", "basic_auth_users.bob is not a bcrypt hash"),
        ("basic_auth_users:\n  'a:b': x\n", "without ':'"),
        ("key: [unclosed\n", "/etc/telepath/web.yml:2:1: not valid YAML"),
    ],
)  # fmt: skip
def test_what_we_do_not_serve_is_refused_clearly(text, message):
    """Each unsupported or wrong setting is a WebConfigError (exit 2) naming the key."""
    with pytest.raises(WebConfigError) as caught:
        parse_web_config(text, WHERE)
    assert message in str(caught.value)
    assert isinstance(caught.value, SettingsError)
    assert caught.value.exit_code == 2


def test_a_password_pasted_instead_of_a_hash_is_not_echoed():
    """The error names the user, never the value (it may be a password)."""
    with pytest.raises(WebConfigError) as caught:
        parse_web_config("basic_auth_users:\n  bob: correct-horse-battery\n", WHERE)
    assert "correct-horse-battery" not in str(caught.value)


def test_every_problem_is_reported_at_once():
    """Several problems: one line each."""
    with pytest.raises(WebConfigError) as caught:
        parse_web_config("foo: 1\nbar: 2\nbasic_auth_users:\n  bob: x\n", WHERE)
    assert len(str(caught.value).splitlines()) == 3


def test_load_checks_that_the_tls_files_load(tmp_path):
    """A key that does not belong to the certificate is found when the file is loaded."""
    certs = make_certs(tmp_path)
    good = tmp_path / "good.yml"
    good.write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    assert load_web_config(good).tls is not None
    bad = tmp_path / "bad.yml"
    bad.write_text(f"tls_server_config:\n  cert_file: server.crt\n  key_file: {certs.client_key}\n")
    with pytest.raises(WebConfigError, match="cannot load cert_file"):
        load_web_config(bad)
    missing = tmp_path / "missing.yml"
    missing.write_text("tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n")
    with pytest.raises(WebConfigError, match="No such file"):
        load_web_config(missing)
    with pytest.raises(WebConfigError, match="cannot be read"):
        load_web_config(tmp_path / "absent.yml")


def test_client_auth_types_map_to_openssl_modes(tmp_path):
    """RequireAndVerifyClientCert → CERT_REQUIRED; VerifyClientCertIfGiven → CERT_OPTIONAL."""
    from monitor.webconfig import server_ssl_context

    make_certs(tmp_path)
    for kind, mode in (
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
    ):
        path = tmp_path / f"{kind}.yml"
        path.write_text(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
            f"  client_ca_file: ca.crt\n  client_auth_type: {kind}\n"
        )
        config = load_web_config(path)
        assert config.tls is not None
        context = server_ssl_context(config.tls, path)
        assert context.verify_mode == mode
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
