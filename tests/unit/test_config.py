"""alerts.yaml loading: every problem at its file:line:col, defaults applied, secrets kept."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import (
    Config,
    NotifyRoutes,
    Rule,
    SlackNotifier,
    WebhookNotifier,
    format_duration,
    load_config,
    parse_duration,
)
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "tests" / "data" / "configs"
BAD = CONFIGS / "bad"
GOOD = CONFIGS / "good"

EXAMPLE_ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
    "ALERT_WEBHOOK_URL": "https://alerts.example.com/telepath",
}

# Each bad fixture with the problems it must produce, in order: where ("line:col", or
# "other-file:line:col" relative to tests/data/configs/bad) and a fragment of the message.
BAD_CASES: dict[str, list[tuple[str, str]]] = {
    "unknown_keys.yaml": [
        ("1:1", "unknown key 'notifers'; did you mean 'notifiers'?"),
        ("5:3", "unknown key 'calls_evry'; did you mean 'calls_every'?"),
        ("9:5", "unknown key 'windw'; did you mean 'window'?"),
    ],
    "missing_keys.yaml": [
        ("3:5", "missing required key 'url'"),
        ("5:5", "missing required key 'type'"),
        ("7:5", "missing required key 'metric'"),
        ("9:5", "missing required key 'name'"),
    ],
    "wrong_values.yaml": [
        ("2:16", "expected a duration like 30s, 5m, 1h, 1d"),
        ("3:19", "a bare number is ambiguous"),
        ("4:14", "must be >= 1"),
        ("6:11", "must be longer than 0s"),
        ("8:11", "expected a duration like 30s, 5m, 1h, 1d, or never"),
        ("9:14", "must be >= 0"),
        ("11:11", "a rule name must match"),
        ("13:11", "expected avg, min, max or a percentile"),
        ("14:9", "expected '>', '>=', '<' or '<='"),
        ("15:10", "expected 'trunk' or 'account'"),
        ("16:13", "expected a duration"),
        ("17:14", "expected a number"),
        ("18:20", "expected a string"),
        ("21:11", "expected avg, min, max or a percentile"),
        ("22:16", "expected a whole number"),
        ("24:10", "expected a duration"),
        ("25:5", "expected a mapping"),
    ],
    "env.yaml": [
        ("4:18", "environment variable SLACK_WEBHOOK_URL is not set"),
        ("7:10", "expected ${NAME} or ${NAME:-default}; write $${ for a literal ${"),
        ("8:13", "expected ${NAME} or ${NAME:-default}"),
        ("12:14", "environment variable MISSING_SUMMARY is not set"),
        ("12:14", "environment variable ALSO_MISSING is not set"),
    ],
    "duplicate_keys.yaml": [
        ("3:3", "duplicate key 'calls_every' (first at line 2)"),
        ("8:5", "duplicate key 'warning' (first at line 7)"),
    ],
    "yaml_syntax.yaml": [("4:4", "invalid YAML")],
    "tags.yaml": [
        ("2:9", "unsupported tag !!python/object/apply:os.system"),
        ("5:13", "unsupported tag !custom"),
        ("7:13", "unsupported tag !!set"),
    ],
    "not_mapping.yaml": [("1:1", "expected a mapping of sections")],
    "duplicate_rules.yaml": [("8:11", "duplicate rule name 'latency' (first at ")],
    "unknown_notifiers.yaml": [
        ("5:20", "unknown notifier 'pager' (notifiers: oncall)"),
        ("7:12", "unknown notifier 'opsgenie'"),
        ("12:14", "unknown notifier 'oncal'"),
        ("18:26", "unknown notifier 'sms'"),
    ],
    "thresholds.yaml": [
        ("2:5", "a rule needs a warning or a critical threshold"),
        ("6:14", "warning must not be above critical when op is '>'"),
        ("11:14", "warning must not be below critical when op is '<'"),
        ("17:15", "recovery must be below the lowest threshold (op '>')"),
        ("23:15", "recovery must be above the highest threshold (op '<=')"),
        ("26:14", "warning must not be above critical"),
        ("26:14", "failed_ratio is a share from 0 to 1"),
    ],
    "windows.yaml": [
        ("4:11", "window is shorter than poll.calls_every"),  # inherited from defaults
        ("11:13", "window is shorter than poll.calls_every"),
    ],
    "metrics_stats.yaml": [
        ("4:11", "failed_ratio has no stat"),
        ("8:11", "call_count has no stat"),
        ("14:11", "overview rules can only use stat avg"),
        ("17:13", "unknown metric 'carrier_lag'; did you mean 'carrier_lag_ms'? (valid: "),
        ("21:13", "the overview has no total_latency_ms"),
    ],
    "overview_misuse.yaml": [
        ("5:10", "overview rules are account-wide; per: trunk needs source: calls"),
        ("6:5", "window does not apply to source: overview"),
        ("7:5", "min_calls does not apply to source: overview"),
        ("8:5", "trunks does not apply to source: overview"),
    ],
    "trunk_filters.yaml": [
        ("5:21", "set trunks or exclude_trunks, not both"),
        ("9:13", "must not be empty"),
    ],
    "notifiers.yaml": [
        ("3:5", "set either webhook_url, or token and channel, not both"),
        ("8:5", "slack needs webhook_url, or both token and channel"),
        ("11:11", "unknown notifier type 'pagerduty'; expected one of: slack, webhook"),
        ("14:10", "expected an http:// or https:// URL"),
        ("15:3", "a notifier name must match"),
        ("19:10", "expected an http:// or https:// URL"),
        ("22:5", "unknown key 'channel'"),
    ],
    "links.yaml": [
        ("2:9", "unknown placeholder {trunk}; links can use {call_id} and {trunk_id}"),
        ("3:10", "unbalanced braces"),
        ("6:3", "expected 'ai_latency_ms', 'carrier_lag_ms'"),
        ("7:19", "expected a JSON field name"),
    ],
    "include_main.yaml": [
        ("3:5", "cannot read included file "),
        ("8:11", "duplicate rule name 'pack-rule' (first at "),
        ("packs/bad-pack.yaml:1:1", "an included file may only have rules and include"),
        ("packs/bad-pack.yaml:10:5", "unknown key 'critcal'; did you mean 'critical'?"),
    ],
    "include_cycle.yaml": [("packs/cycle-b.yaml:2:5", "include cycle: ")],
    "include_self.yaml": [("1:11", "include cycle: ")],
    "compare.yaml": [
        ("4:14", "set warning under compare or on the rule, not both"),
        ("8:25", "expected a baseline like 'previous 1h', 'same time 1d'"),
        ("11:47", "expected a ratio like 1.5x or a difference like +500ms"),
        ("11:63", 'quote a difference: "+0.5"'),
        ("14:14", "compare needs warning or critical (or both)"),
        ("18:14", "compare needs source: calls"),
        ("21:9", "compare rules alert on a rise: op must be > or >="),
        ("22:15", "recovery does not apply to compare rules"),
        ("23:14", "compare does not apply to call_count"),
        ("26:73", "must be >= 1"),
        ("29:16", "compare rules take no direction: the history keeps none"),
        ("30:13", "compare rules take no status"),
    ],
}


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={} if env is None else env)
    return caught.value.problems


def expected_prefix(fixture: Path, where: str) -> str:
    if ".yaml:" in where:
        other, _, linecol = where.partition(".yaml:")
        return f"{BAD / (other + '.yaml')}:{linecol}: "
    return f"{fixture}:{where}: "


@pytest.mark.parametrize(("name", "expected"), BAD_CASES.items(), ids=list(BAD_CASES))
def test_bad_config_reports_every_problem_at_its_position(name, expected):
    """Each bad fixture yields exactly its listed problems, each at its exact line:col."""
    fixture = BAD / name
    problems = problems_of(fixture)
    assert len(problems) == len(expected), "\n".join(problems)
    for problem, (where, fragment) in zip(problems, expected, strict=True):
        assert problem.startswith(expected_prefix(fixture, where)), problem
        assert fragment in problem, problem


def test_every_bad_fixture_is_in_the_table():
    """No fixture in tests/data/configs/bad goes untested."""
    assert {p.name for p in BAD.glob("*.yaml")} == {*BAD_CASES, "secrets.yaml"}


def test_messages_never_show_pydantic_internals():
    """Problems are written for people: no input_value, no type names, no docs URLs."""
    for name in BAD_CASES:
        for problem in problems_of(BAD / name):
            for internal in ("input_value", "input_type", "errors.pydantic.dev", "Value error"):
                assert internal not in problem


def test_path_is_shown_as_given(monkeypatch):
    """A relative path stays relative in every message, as the user typed it."""
    monkeypatch.chdir(BAD)
    assert problems_of(Path("duplicate_rules.yaml")) == [
        "duplicate_rules.yaml:8:11: duplicate rule name 'latency' "
        "(first at duplicate_rules.yaml:2:11)"
    ]


def test_included_file_path_is_relative_to_the_including_file(monkeypatch):
    """An include is found next to the file that names it, whatever the working directory."""
    monkeypatch.chdir(CONFIGS)
    problems = problems_of(Path("bad/include_cycle.yaml"))
    assert problems == [
        "bad/packs/cycle-b.yaml:2:5: include cycle: "
        "bad/packs/cycle-a.yaml -> bad/packs/cycle-b.yaml -> bad/packs/cycle-a.yaml"
    ]


def test_missing_file_is_one_problem(tmp_path):
    """A file that cannot be read is a single `path: cannot read: reason`."""
    path = tmp_path / "alerts.yaml"
    assert problems_of(path) == [f"{path}: cannot read: No such file or directory"]


def test_file_that_is_not_utf8_is_one_problem(tmp_path):
    """Binary junk is refused before YAML sees it."""
    path = tmp_path / "alerts.yaml"
    path.write_bytes(b"rules: \xff\xfe\n")
    assert problems_of(path) == [f"{path}: cannot read: not UTF-8 text"]


def test_alias_bomb_is_refused(tmp_path):
    """Aliases that expand to millions of values stop with an error, not a hang."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    path = tmp_path / "alerts.yaml"
    path.write_text("\n".join(lines) + "\n")
    problems = problems_of(path)
    assert any("document too large once aliases are expanded" in p for p in problems)


def test_an_alias_into_itself_is_refused(tmp_path):
    """A self-referencing alias is an error at its position, not a recursion crash."""
    path = tmp_path / "alerts.yaml"
    path.write_text("x-loop: &loop [*loop]\n")
    assert problems_of(path) == [f"{path}:1:9: an alias refers to a value that contains it"]


# -- secrets ---------------------------------------------------------------------------

SECRET = "S3CR3T-hunter2-0xBEEF"


def test_secrets_from_the_environment_never_appear_in_problems():
    """Values that came from the environment are never echoed, wherever they fail."""
    env = {"SECRET": SECRET, "SECRET_URL": f"ftp://{SECRET}@example.com/hook"}
    problems = problems_of(BAD / "secrets.yaml", env)
    assert len(problems) == 11
    assert [p.split(": ", 1)[0].rsplit(":", 2)[1:] for p in problems] == [
        ["4", "10"], ["9", "18"], ["11", "11"], ["13", "12"], ["15", "11"], ["16", "13"],
        ["17", "11"], ["18", "16"], ["19", "13"], ["21", "11"], ["21", "11"],
    ]  # fmt: skip
    for problem in problems:
        assert SECRET not in problem
        assert "hunter2" not in problem


def test_secrets_do_not_appear_in_the_repr_of_a_loaded_config():
    """SecretStr and hidden headers keep URLs, signing secrets and tokens out of repr."""
    env = {
        "ALERT_WEBHOOK_URL": f"https://example.com/{SECRET}",
        "ALERT_WEBHOOK_SECRET": SECRET,
        "ALERT_TOKEN": SECRET,
        "AI_WARNING": "700",
    }
    config = load_config(GOOD / "env.yaml", env=env)
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    ops = config.notifiers["ops"]
    assert isinstance(ops, WebhookNotifier)
    assert ops.url.get_secret_value() == f"https://example.com/{SECRET}"
    assert ops.secret is not None
    assert ops.secret.get_secret_value() == SECRET
    assert ops.headers == {"Authorization": f"Bearer {SECRET}"}


# -- environment -----------------------------------------------------------------------


def test_env_values_defaults_and_escapes_are_filled_in():
    """${VAR} takes the environment, ${VAR:-x} falls back to x, $${ stays a literal ${."""
    env = {"ALERT_WEBHOOK_URL": "https://example.com/hook", "ALERT_TOKEN": "t", "AI_WARNING": "700"}
    config = load_config(GOOD / "env.yaml", env=env)
    assert config.links.call == "https://dashboard.telepathvoice.com/calls/{call_id}"
    rule = config.rules[0]
    assert rule.summary == "costs ${AMOUNT} and $5, ${ stays"
    assert rule.min_calls == 20
    assert rule.warning == 700.0
    ops = config.notifiers["ops"]
    assert isinstance(ops, WebhookNotifier)
    assert ops.secret is None  # ${ALERT_WEBHOOK_SECRET:-} is empty: unsigned


def test_an_empty_variable_uses_the_default():
    """As in the shell, :- also applies when the variable is set but empty."""
    env = {
        "ALERT_WEBHOOK_URL": "https://example.com/hook",
        "ALERT_TOKEN": "t",
        "AI_WARNING": "700",
        "MIN_CALLS": "",
        "DASHBOARD": "https://dash.internal",
    }
    config = load_config(GOOD / "env.yaml", env=env)
    assert config.rules[0].min_calls == 20
    assert config.links.call == "https://dash.internal/calls/{call_id}"


def test_env_cannot_inject_yaml_structure(tmp_path):
    """A value with YAML syntax in it stays one string; it cannot add keys or rules."""
    path = tmp_path / "alerts.yaml"
    path.write_text("rules:\n  - name: a\n    metric: ai_latency_ms\n    summary: ${S}\n"
                    "    warning: 1\n")  # fmt: skip
    config = load_config(path, env={"S": "x\n    critical: 5\nnotifiers: {}"})
    assert config.rules[0].critical is None
    assert config.rules[0].summary == "x\n    critical: 5\nnotifiers: {}"


# -- defaults and resolution -----------------------------------------------------------


def test_defaults_are_applied_to_every_rule():
    """A rule that leaves things out gets the built-in defaults, all concrete."""
    rule = load_config(GOOD / "minimal.yaml", env={}).rules[0]
    assert rule == Rule(
        name="ai-latency",
        metric="ai_latency_ms",
        stat="avg",
        window=timedelta(minutes=5),
        per="trunk",
        min_calls=1,
        op=">",
        warning=800,
        for_=timedelta(minutes=2),
        repeat=timedelta(hours=4),
        notify=NotifyRoutes(),
        no_data="keep",
    )
    assert rule.source_location == f"{GOOD / 'minimal.yaml'}:2:5"


def test_defaults_section_fills_gaps_and_rules_override_it():
    """defaults: applies where a rule is silent; what a rule says wins."""
    config = load_config(GOOD / "defaults.yaml", env={})
    inherits, overrides, quiet, failures, overview = config.rules
    assert (inherits.for_, inherits.repeat, inherits.window) == (
        timedelta(0),
        None,
        timedelta(minutes=10),
    )
    assert (inherits.per, inherits.min_calls, inherits.no_data) == ("account", 5, "resolve")
    assert inherits.notifiers_for("warning") == ["chat"]
    assert inherits.stat == "avg"
    assert overrides.stat == "p99.9"
    assert (overrides.window, overrides.per, overrides.min_calls) == (
        timedelta(minutes=1),
        "trunk",
        50,
    )
    assert (overrides.op, overrides.for_, overrides.repeat) == (
        ">=",
        timedelta(seconds=30),
        timedelta(hours=1, minutes=30),
    )
    assert overrides.notifiers_for("critical") == ["pager", "chat"]
    assert overrides.notifiers_for("warning") == []
    assert overrides.no_data == "keep"
    assert (quiet.stat, quiet.min_calls) == (None, 0)  # no calls is what it watches
    assert (failures.stat, failures.min_calls) == (None, 5)
    assert (overview.stat, overview.per, overview.min_calls) == ("avg", "account", 0)
    assert config.sync_failing.after == timedelta(minutes=3)
    assert config.sync_failing.notify == NotifyRoutes(warning=("chat",), critical=("chat",))


def test_empty_file_is_a_config_with_no_rules():
    """An empty file is valid: every section takes its defaults."""
    config = load_config(GOOD / "empty.yaml", env={})
    assert config == Config()
    assert config.summary() == "0 rules, 0 notifiers"


def test_anchors_and_merge_keys_work():
    """Shared settings can live under an x- key and be merged into rules."""
    merged, override = load_config(GOOD / "anchors.yaml", env={}).rules
    assert (merged.name, merged.stat, merged.warning) == ("merged", "p95", 800)
    assert (override.name, override.warning) == ("merged-override", 900)


# -- includes --------------------------------------------------------------------------


def test_included_rules_come_first_in_include_order():
    """Pack rules (nested packs first) precede the file's own, each knowing its file."""
    config = load_config(GOOD / "include.yaml", env={})
    assert [r.name for r in config.rules] == ["nested-rule", "pack-rule", "own-rule"]
    assert config.rules[0].source_location == f"{GOOD / 'packs/nested/extra.yaml'}:2:5"
    assert config.rules[1].source_location == f"{GOOD / 'packs/latency.yaml'}:3:5"
    assert config.rules[2].source_location == f"{GOOD / 'include.yaml'}:4:5"


def test_the_example_config_loads():
    """alerts.example.yaml, with its packs, is valid once its variables are set."""
    config = load_config(ROOT / "alerts.example.yaml", env=EXAMPLE_ENV)
    names = [rule.name for rule in config.rules]
    assert {"ai-latency-p95", "failed-calls", "no-calls", "overview-ai-latency"} <= set(names)
    assert len(names) == len(set(names))
    assert isinstance(config.notifiers["oncall"], SlackNotifier)
    assert isinstance(config.notifiers["ops"], WebhookNotifier)


def test_the_example_config_needs_its_webhook_urls():
    """Without the environment, the example names each variable that is missing."""
    problems = problems_of(ROOT / "alerts.example.yaml")
    assert [p.split(": ", 1)[1] for p in problems] == [
        "environment variable SLACK_WEBHOOK_URL is not set",
        "environment variable ALERT_WEBHOOK_URL is not set",
    ]


@pytest.mark.parametrize("pack", sorted(p.name for p in (ROOT / "rules").glob("*.yaml")))
def test_every_rule_pack_loads_on_its_own(tmp_path, pack):
    """Each file in rules/ is a valid pack when included from a bare config."""
    wrapper = tmp_path / "alerts.yaml"
    wrapper.write_text(f"include: [{ROOT / 'rules' / pack}]\n")
    config = load_config(wrapper, env={})
    assert config.rules
    assert all(rule.source_location.startswith(str(ROOT / "rules" / pack)) for rule in config.rules)


# -- rule helpers ----------------------------------------------------------------------


def test_thresholds_are_most_severe_first():
    """critical comes before warning; unset ones are left out."""
    rule = Rule(name="r", metric="ai_latency_ms", warning=800, critical=1500)
    assert rule.thresholds() == [("critical", 1500), ("warning", 800)]
    assert Rule(name="r", metric="ai_latency_ms", warning=800).thresholds() == [("warning", 800)]


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [(">", 10, False), (">", 11, True), (">=", 10, True), ("<", 10, False), ("<", 9, True),
     ("<=", 10, True), ("<=", 11, False)],
)  # fmt: skip
def test_breaches_follows_op(op, value, expected):
    """A value breaches a threshold of 10 in the direction op says is bad."""
    rule = Rule(name="r", metric="call_count", op=op, critical=10)
    assert rule.breaches(value, 10) is expected


def test_rules_built_by_hand_get_metric_defaults():
    """call_count rules default to min_calls 0 and no stat, latency rules to avg."""
    count = Rule(name="c", metric="call_count", op="<", critical=1)
    latency = Rule(name="l", metric="carrier_lag_ms", warning=150)
    assert (count.stat, count.min_calls) == (None, 0)
    assert (latency.stat, latency.min_calls) == ("avg", 1)


def test_source_location_does_not_affect_equality():
    """Moving a rule within its file does not make it a different rule."""
    a = Rule(name="r", metric="ai_latency_ms", warning=1, source_location="a.yaml:3:5")
    b = Rule(name="r", metric="ai_latency_ms", warning=1, source_location="a.yaml:9:5")
    assert a == b
    assert hash(a) == hash(b)
    assert a != Rule(name="r", metric="ai_latency_ms", warning=2)


def test_summary_counts_rules_and_notifiers():
    """One line, singular where it should be."""
    config = load_config(GOOD / "defaults.yaml", env={})
    assert config.summary() == "5 rules, 2 notifiers"
    assert load_config(GOOD / "minimal.yaml", env={}).summary() == "1 rule, 0 notifiers"


# -- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("1h", timedelta(hours=1)),
     ("1d", timedelta(days=1)), ("1h30m", timedelta(hours=1, minutes=30)), ("0s", timedelta(0))],
)  # fmt: skip
def test_durations_parse_and_format_back(text, expected):
    """Each unit and compound parses, and formats back to the same spelling."""
    assert parse_duration(text) == expected
    assert format_duration(expected) == text


@pytest.mark.parametrize("text", ["", "5", "5 m", "1.5h", "5ms", "m", "30s1h", "-1m"])
def test_malformed_durations_are_refused(text):
    """Anything but whole numbers with d/h/m/s units, largest first, is an error."""
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_an_overlap_longer_than_the_backfill_is_refused(tmp_path):
    """Polls never read further back than the backfill, so the overlap cannot exceed it."""
    path = tmp_path / "alerts.yaml"
    path.write_text("poll:\n  backfill: 5m\n  overlap: 10m\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:3:12: poll.overlap is longer than poll.backfill")
