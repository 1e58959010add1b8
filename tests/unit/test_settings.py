"""TELEPATH_* settings: defaults, validation, overrides, and the key kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.errors import SettingsError
from monitor.settings import load_settings, parse_listen

KEY = "sk_live_settings_secret_999"


def test_defaults_match_the_brief():
    """With an empty environment every setting has the documented default."""
    settings = load_settings(env={})
    assert settings.api_key is None
    assert settings.api_url == "https://api.telepathvoice.com/v1"
    assert settings.config == Path("alerts.yaml")
    assert settings.state_db == Path("telepath-monitor.db")
    assert settings.listen == "0.0.0.0:19310"
    assert (settings.log_level, settings.log_format) == ("INFO", "text")
    assert (settings.api_rate_limit, settings.api_timeout) == (6000, 10.0)


def test_environment_is_read_and_flags_override_it():
    """TELEPATH_* variables are read; a CLI flag wins over its variable."""
    env = {
        "TELEPATH_API_KEY": KEY,
        "TELEPATH_LISTEN": "127.0.0.1:9000",
        "TELEPATH_LOG_LEVEL": "debug",
        "TELEPATH_API_RATE_LIMIT": "600",
        "OTHER": "ignored",
    }
    settings = load_settings({"listen": "127.0.0.1:9100", "config": None}, env=env)
    assert settings.listen == "127.0.0.1:9100"
    assert settings.log_level == "DEBUG"
    assert settings.api_rate_limit == 600
    assert settings.require_api_key().get_secret_value() == KEY


def test_the_process_environment_is_the_default_source(monkeypatch):
    """Without an explicit env, os.environ is read."""
    monkeypatch.setenv("TELEPATH_LOG_FORMAT", "json")
    assert load_settings().log_format == "json"


def test_key_never_shows_in_repr_or_dump():
    """The key is a SecretStr: repr and model_dump mask it."""
    settings = load_settings(env={"TELEPATH_API_KEY": KEY})
    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())


def test_missing_key_names_the_variable():
    """Commands that need the key say which variable to set."""
    with pytest.raises(SettingsError, match="TELEPATH_API_KEY is not set"):
        load_settings(env={"TELEPATH_API_KEY": "  "}).require_api_key()


@pytest.mark.parametrize(
    "url",
    [
        "https://api.telepathvoice.com/v1",
        "http://127.0.0.1:8765/v1",
        "http://127.3.2.1/v1",
        "http://localhost:9/v1",
        "http://[::1]:8765/v1",
    ],
)
def test_https_or_loopback_is_accepted(url):
    """https anywhere, plain http only on loopback."""
    assert load_settings(env={"TELEPATH_API_URL": url}).api_url == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://api.telepathvoice.com/v1", "got http://api.telepathvoice.com"),
        ("http://10.0.0.5/v1", "got http://10.0.0.5"),
        ("ftp://127.0.0.1/v1", "must be an http(s) URL"),
        ("api.telepathvoice.com", "must be an http(s) URL"),
    ],
)
def test_other_urls_are_refused_in_one_line_naming_the_setting(url, fragment):
    """A non-https remote URL is a one-line error that names TELEPATH_API_URL."""
    with pytest.raises(SettingsError) as caught:
        load_settings(env={"TELEPATH_API_URL": url})
    message = str(caught.value)
    assert message.startswith("TELEPATH_API_URL must")
    assert fragment in message
    assert "\n" not in message


def test_credentials_in_a_refused_url_are_not_echoed():
    """Only scheme and host of a refused URL appear in the error."""
    with pytest.raises(SettingsError) as caught:
        load_settings(env={"TELEPATH_API_URL": "http://user:hunter2@example.com/v1"})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TELEPATH_LOG_LEVEL": "loud"}, "TELEPATH_LOG_LEVEL must be one of"),
        ({"TELEPATH_LOG_FORMAT": "xml"}, "TELEPATH_LOG_FORMAT"),
        ({"TELEPATH_LISTEN": "nowhere"}, "TELEPATH_LISTEN must be host:port"),
        ({"TELEPATH_API_RATE_LIMIT": "0"}, "TELEPATH_API_RATE_LIMIT"),
        ({"TELEPATH_API_TIMEOUT": "-1"}, "TELEPATH_API_TIMEOUT"),
    ],
)
def test_invalid_settings_name_their_variable(env, fragment):
    """Each invalid setting is reported under its environment variable's name."""
    with pytest.raises(SettingsError, match=fragment):
        load_settings(env=env)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.0.0.0:19310", ("0.0.0.0", 19310)),
        ("[::1]:9000", ("::1", 9000)),
        (":9000", ("0.0.0.0", 9000)),
    ],
)
def test_listen_forms(text, expected):
    """host:port, [v6]:port and :port are understood."""
    assert parse_listen(text) == expected
