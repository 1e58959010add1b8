"""`check`: literal secrets are warned about; the web config is validated (issue 19)."""

from __future__ import annotations

import bcrypt
import pytest

from monitor.cli import main

WEBHOOK = "https://hooks.slack.com/services/T000/B000/literalsecretvalue"
CONFIG = f"""\
notifiers:
  oncall:
    type: slack
    webhook_url: {WEBHOOK}
  ops:
    type: webhook
    url: ${{OPS_URL}}
    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
    headers:
      Authorization: Bearer ${{OPS_TOKEN}}
      X-Api-Key: plain-key-1234
rules:
  - name: slow
    metric: ai_latency_ms
    stat: p95
    window: 5m
    warning: 800
    notify: [oncall, ops]
"""


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("OPS_URL", "https://ops.example/hook")
    monkeypatch.setenv("OPS_TOKEN", "tok_from_env")
    monkeypatch.delenv("TELEPATH_WEB_CONFIG", raising=False)


def test_check_warns_for_each_secret_written_in_the_file(tmp_path, capsys, env):
    """Literal secrets: a warning each with position and variable; values never shown; exit 0."""
    path = tmp_path / "alerts.yaml"
    path.write_text(CONFIG)
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "ok (1 rule, 2 notifiers)" in out
    warnings = err.splitlines()
    assert warnings == [
        f"{path}:4:18: warning: notifiers.oncall.webhook_url is a secret written in the file; "
        "use ${ONCALL_WEBHOOK_URL} and set it in the environment",
        f"{path}:8:13: warning: notifiers.ops.secret is a secret written in the file; "
        "use ${OPS_SECRET} and set it in the environment",
        f"{path}:11:18: warning: notifiers.ops.headers.X-Api-Key is a secret written in the "
        "file; use ${OPS_X_API_KEY} and set it in the environment",
    ]
    assert WEBHOOK not in err
    assert "plain-key-1234" not in err


def test_check_is_quiet_when_every_secret_comes_from_the_environment(tmp_path, capsys, env):
    """${VAR} everywhere: no warning."""
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "notifiers:\n  oncall:\n    type: slack\n    webhook_url: ${OPS_URL}\nrules: []\n"
    )
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_check_validates_the_web_config(tmp_path, capsys, env):
    """--web-config (or TELEPATH_WEB_CONFIG) is validated too: exit 1 with its problems."""
    path = tmp_path / "alerts.yaml"
    path.write_text("rules: []\n")
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  bob: hunter2\nhttp_server_config: {}\n")
    assert main(["check", str(path), "--web-config", str(web)]) == 1
    err = capsys.readouterr().err
    assert "basic_auth_users.bob is not a bcrypt hash" in err
    assert "http_server_config is not supported" in err
    assert "hunter2" not in err
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    web.write_text(f"basic_auth_users:\n  bob: {hashed}\n")
    assert main(["check", str(path), "--web-config", str(web)]) == 0
    assert "ok (no TLS, basic auth for 1 users)" in capsys.readouterr().out


def test_check_reads_telepath_web_config(tmp_path, capsys, env, monkeypatch):
    """Without the flag, TELEPATH_WEB_CONFIG names the file to validate."""
    path = tmp_path / "alerts.yaml"
    path.write_text("rules: []\n")
    monkeypatch.setenv("TELEPATH_WEB_CONFIG", str(tmp_path / "absent.yml"))
    assert main(["check", str(path)]) == 1
    assert "absent.yml: cannot be read" in capsys.readouterr().err


def test_run_refuses_a_bad_web_config_before_serving(tmp_path, capsys, env, monkeypatch):
    """`run` with an invalid TELEPATH_WEB_CONFIG exits 2 with the problem, serving nothing."""
    config = tmp_path / "alerts.yaml"
    config.write_text("rules: []\n")
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
    monkeypatch.setenv("TELEPATH_API_KEY", "sk_test_webconfig")
    monkeypatch.setenv("TELEPATH_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("TELEPATH_WEB_CONFIG", str(web))
    argv = ["run", "--config", str(config), "--state-db", str(tmp_path / "s.db")]
    assert main([*argv, "--listen", "127.0.0.1:0"]) == 2
    assert "cannot load cert_file" in capsys.readouterr().err
