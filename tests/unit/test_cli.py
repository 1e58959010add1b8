"""The command line in process: commands listed, check's output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.cli import main

ROOT = Path(__file__).parent.parent.parent


def test_help_lists_the_commands(capsys):
    """--help names every command that exists."""
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    for command in ("run", "check", "once", "simulate"):
        assert command in out


def test_no_command_prints_help_and_exits_2(capsys):
    """Without a command the usage is shown."""
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_check_accepts_the_example_and_every_rule_pack(monkeypatch, capsys, tmp_path):
    """alerts.example.yaml and each file in rules/ pass `check`."""
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/x")
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://hooks.example.com/alerts")
    assert main(["check", str(ROOT / "alerts.example.yaml")]) == 0
    assert "ok (" in capsys.readouterr().out
    for pack in sorted((ROOT / "rules").glob("*.yaml")):
        wrapper = tmp_path / f"with-{pack.name}"
        wrapper.write_text(f"include: [{pack}]\n")
        assert main(["check", str(wrapper)]) == 0, pack.name


def test_check_reports_every_problem_with_its_position(tmp_path, capsys):
    """A bad file exits 1 with file:line:col lines on stderr."""
    bad = tmp_path / "alerts.yaml"
    bad.write_text("rules:\n  - name: x\n    metric: nope\n    windw: 5m\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith(f"{bad}:3:13: ") for line in err)
    assert any(line.startswith(f"{bad}:4:5: ") for line in err)


def test_run_without_a_key_names_the_variable(monkeypatch, capsys):
    """run refuses to start without TELEPATH_API_KEY, exit 2, one clear line."""
    monkeypatch.delenv("TELEPATH_API_KEY", raising=False)
    assert main(["run", "--log-level", "ERROR"]) == 2
    assert "TELEPATH_API_KEY is not set" in capsys.readouterr().err


def test_a_non_https_api_url_is_refused_at_start(monkeypatch, capsys):
    """A remote plain-http URL stops the command with a line naming the setting."""
    monkeypatch.setenv("TELEPATH_API_KEY", "sk_live_x")
    assert main(["once", "--api-url", "http://api.example.com/v1"]) == 2
    assert "TELEPATH_API_URL must use https://" in capsys.readouterr().err


def test_silence_add_list_and_expire(tmp_path, capsys):
    """silence add prints an id; list shows it in force; expire by prefix ends it."""
    db = str(tmp_path / "state.db")
    args = [
        "--rule",
        "voice-*",
        "--trunk",
        "conn_0[12]",
        "--for",
        "2h",
        "--comment",
        "carrier work",
    ]
    assert main(["silence", "add", *args, "--author", "ana", "--state-db", db]) == 0
    silence_id = capsys.readouterr().out.strip()
    assert len(silence_id) == 8
    assert main(["silence", "list", "--json", "--state-db", db]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["rule"], listed["trunk"], listed["active"]) == (
        silence_id, "voice-*", "conn_0[12]", True,
    )  # fmt: skip
    assert listed["created_by"] == "ana"
    assert main(["silence", "expire", silence_id[:4], "--state-db", db]) == 0
    capsys.readouterr()
    assert main(["silence", "list", "--state-db", db]) == 0
    assert "(no silences)" in capsys.readouterr().out
    assert main(["silence", "list", "--all", "--state-db", db]) == 0
    assert "carrier work" in capsys.readouterr().out


def test_silence_refuses_bad_input(tmp_path, capsys):
    """A bad duration, an empty comment or an unknown id is a clear error."""
    db = str(tmp_path / "state.db")
    base = ["silence", "add", "--rule", "x", "--state-db", db]
    assert main([*base, "--for", "2 hours", "--comment", "c"]) == 2
    assert "--for" in capsys.readouterr().err
    assert main([*base, "--for", "2h", "--comment", "  "]) == 2
    assert main(["silence", "expire", "nope", "--state-db", db]) == 1
    assert "no single silence" in capsys.readouterr().err
