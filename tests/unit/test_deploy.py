"""deploy/: PromQL names only what the exporter serves, the tools accept every file, the
manifests keep the daemon's promises (non-root, read-only, probes, one replica)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import load_config
from monitor.errors import ConfigError
from tools.reference import reference_registry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yaml"
DASHBOARD = DEPLOY / "grafana" / "telepath-monitor.json"
COMPOSE = DEPLOY / "compose.yaml"
KUBERNETES = DEPLOY / "kubernetes" / "telepath-monitor.yaml"
T0 = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
#: Series that come from Prometheus itself rather than from the exporter.
PROMETHEUS_SERIES = {"up"}
PORT = 19310
#: A path inside the container or pod, not a file these tests create.
CONTAINER_TMP = "/tmp"  # noqa: S108


# --- what the exporter really serves ------------------------------------------------------


def served_names() -> set[str]:
    """Every sample name in one scrape (``_bucket``, ``_sum``, ``_count``, ``_total``...)."""
    text = reference_registry().render().decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_family_has_samples_in_the_reference_scrape():
    """The reference scrape leaves no family empty, so the name set below is complete."""
    text = reference_registry().render().decode()
    empty = [f.name for f in text_string_to_metric_families(text) if not f.samples]
    assert empty == []


# --- PromQL metric names ------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
      (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
    | (?P<variable>\$\{[^}]*\}|\$\w+)                   # Grafana: $trunk_id, ${datasource}
    | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<punct>[(){}\[\]])
    | (?P<other>\S)
    """,
    re.VERBOSE,
)
#: Keywords followed by a list of label names in parentheses.
_LABEL_LISTS = frozenset(("by", "without", "on", "ignoring", "group_left", "group_right"))
#: Identifiers that are PromQL syntax, never metric names, even without a "(" after them.
_KEYWORDS = _LABEL_LISTS | {
    *("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"),
    *("bottomk", "topk", "quantile", "limitk", "limit_ratio"),
    *("and", "or", "unless", "offset", "bool", "inf", "nan", "atan2"),
}
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*\w+\s*\)\s*$", re.DOTALL)


def promql_names(expr: str) -> set[str]:
    """Metric (and recording rule) names an expression selects.

    Left out: string literals, Grafana variables, numbers and durations, label names
    inside ``{...}``, anything inside ``[...]``, label lists after ``by``/``without``/
    ``on``/``ignoring``/``group_left``/``group_right``, functions (an identifier
    followed by ``(``) and keywords. Grafana's ``label_values(selector, label)`` is
    reduced to its selector.
    """
    if (match := _LABEL_VALUES.match(expr)) is not None:
        expr = match.group("selector")
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "string"]
    names: set[str] = set()
    depth = {"{": 0, "[": 0}
    closing = {"}": "{", "]": "["}
    skip_list = False  # inside the parentheses of a label list
    for i, (kind, text) in enumerate(tokens):
        following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if text in depth:
            depth[text] += 1
        elif text in closing:
            depth[closing[text]] -= 1
        elif skip_list:
            skip_list = text != ")"
        elif kind == "ident" and not any(depth.values()):
            if text in _LABEL_LISTS and following == "(":
                skip_list = True
            elif text not in _KEYWORDS and following != "(":
                names.add(text)
    return names


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            "histogram_quantile(0.95, sum by (trunk_id, le) (rate(telepath_call_latency_seconds"
            '_bucket{component="ai", trunk_id=~"$trunk_id"}[$window])))',
            {"telepath_call_latency_seconds_bucket"},
        ),
        (
            'telepath:calls:increase5m >= 20 and on (trunk_id) up{job="telepath-monitor"} == 1',
            {"telepath:calls:increase5m", "up"},
        ),
        (
            "sum without (instance) (rate(a_total[1h30m] offset 5m)) / ignoring (status) "
            "group_left (trunk_id) b",
            {"a_total", "b"},
        ),
        ('max(x{reason="telepath_fake", le!~"0.5|1"}) by (reason) or vector(0)', {"x"}),
        ("time() - max_over_time(y[$__rate_interval:1m]) * 1e3", {"y"}),
        ("label_values(telepath_calls_total, trunk_id)", {"telepath_calls_total"}),
    ],
)
def test_the_promql_tokenizer_finds_only_metric_names(expr, expected):
    """Label names, strings, functions, keywords, durations and variables are not names."""
    assert promql_names(expr) == expected


def _rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def _rules() -> Iterator[dict[str, Any]]:
    for group in _rule_groups():
        yield from group["rules"]


def _dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return board


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _dashboard_exprs() -> list[str]:
    board = _dashboard()
    exprs = [t["expr"] for p in _panels(board["panels"]) for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


@pytest.mark.parametrize(
    ("where", "exprs"),
    [
        ("deploy/prometheus/rules.yaml", [rule["expr"] for rule in _rules()]),
        ("deploy/grafana/telepath-monitor.json", _dashboard_exprs()),
    ],
)
def test_promql_names_only_metrics_the_exporter_serves(where, exprs):
    """Every name is served by the exporter, recorded by rules.yaml, or Prometheus' own up."""
    known = served_names() | _recorded() | PROMETHEUS_SERIES
    referenced = set().union(*(promql_names(expr) for expr in exprs))
    assert (where, sorted(referenced - known)) == (where, [])


def test_the_dashboard_shows_latency_traffic_alerts_and_daemon_health():
    """The dashboard's queries cover every figure an operator looks for."""
    referenced = set().union(*(promql_names(expr) for expr in _dashboard_exprs()))
    wanted = {
        "telepath_call_latency_seconds_bucket",
        "telepath_window_latency_seconds",
        "telepath_calls_total",
        "telepath_monitor_alerts",
        "telepath_monitor_sync_lag_seconds",
        "telepath_monitor_last_successful_sync_timestamp_seconds",
        "telepath_monitor_api_requests_total",
        "telepath_monitor_rate_limit_remaining",
        "telepath_monitor_outbox_depth",
        "telepath_monitor_outbox_oldest_pending_age_seconds",
        "telepath_monitor_notifications_sent_total",
        "telepath_monitor_notifications_failed_total",
        "telepath_monitor_notifications_dead_lettered_total",
    }
    assert wanted - referenced == set()


def test_the_dashboard_components_cover_every_latency_component():
    """AI latency, carrier lag, gateway processing and total each get their percentiles."""
    exprs = "\n".join(_dashboard_exprs())
    components = set(re.findall(r'component="(\w+)"', exprs))
    assert components == {"ai", "carrier", "gateway", "total"}


def test_the_dashboard_has_datasource_and_trunk_variables():
    """Panels query through $datasource; trunk_id comes from label_values."""
    board = _dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    trunk_query = variables["trunk_id"]["query"]["query"]
    panels = [p for p in _panels(board["panels"]) if p["type"] != "row"]
    ids = [p["id"] for p in _panels(board["panels"])]
    assert (
        board["schemaVersion"],
        variables["datasource"]["type"],
        trunk_query.startswith("label_values("),
        {p["datasource"]["uid"] for p in panels},
        len(ids) == len(set(ids)),
    ) == (39, "datasource", True, {"${datasource}"}, True)


def test_alerting_rules_watch_the_daemons_own_health():
    """Alerts exist on scrape failure, sync age and lag, API failures, outbox and dead letters."""
    referenced = set().union(*(promql_names(r["expr"]) for r in _rules() if "alert" in r))
    recorded = {r["record"]: promql_names(r["expr"]) for r in _rules() if "record" in r}
    for name in list(referenced):
        referenced |= recorded.get(name, set())
    wanted = {
        "up",
        "telepath_monitor_sync_lag_seconds",
        "telepath_monitor_last_successful_sync_timestamp_seconds",
        "telepath_monitor_api_requests_total",
        "telepath_monitor_outbox_depth",
        "telepath_monitor_outbox_oldest_pending_age_seconds",
        "telepath_monitor_notifications_dead_lettered_total",
        "telepath_window_latency_seconds",
        "telepath_window_calls",
    }
    assert wanted - referenced == set()


def test_no_alert_judges_the_interpolated_histograms():
    """Latency alerts read the daemon's exact window gauges: histogram_quantile lands
    anywhere within a bucket, and held healthy trunks pending."""
    recorded = {r["record"]: promql_names(r["expr"]) for r in _rules() if "record" in r}
    on_histograms = []
    for rule in (r for r in _rules() if "alert" in r):
        names = promql_names(rule["expr"])
        names |= set().union(*(recorded.get(name, set()) for name in names))
        if "telepath_call_latency_seconds_bucket" in names:
            on_histograms.append(rule["alert"])
    assert on_histograms == []


def test_every_alert_has_a_severity_and_a_summary():
    """Alertmanager routes on severity; people read the summary."""
    lacking = [
        rule["alert"]
        for rule in _rules()
        if "alert" in rule
        and (
            rule.get("labels", {}).get("severity") not in {"info", "warning", "critical"}
            or not rule.get("annotations", {}).get("summary")
        )
    ]
    assert lacking == []


# --- docker compose -----------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return compose


def _bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path → host path (relative to deploy/) of each bind mount."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[target] = source
    return mounts


def test_compose_runs_the_daemon_read_only_with_state_on_a_volume():
    """The daemon's service: built from the repo, read-only, /tmp in memory, 30s to stop."""
    compose = _compose()
    daemon = compose["services"]["telepath-monitor"]
    named = {v.split(":")[1]: v.split(":")[0] for v in daemon["volumes"] if ":" in v}
    assert (
        daemon["build"],
        daemon["image"],
        daemon["read_only"],
        daemon["tmpfs"],
        daemon["stop_grace_period"],
        "healthcheck" in daemon,
        named["/var/lib/telepath-monitor"] in compose["volumes"],
        daemon["environment"]["TELEPATH_STATE_DB"].startswith("/var/lib/telepath-monitor/"),
        daemon["environment"]["TELEPATH_API_KEY"].startswith("${TELEPATH_API_KEY"),
        any(p.endswith(f":{PORT}") for p in daemon["ports"]),
    ) == (
        "..",
        "telepath-monitor:local",
        True,
        [CONTAINER_TMP],
        "30s",
        False,
        True,
        True,
        True,
        True,
    )


def test_compose_mounts_the_config_and_rule_packs_read_only():
    """alerts.yaml and rules/ sit where TELEPATH_CONFIG and its includes expect them."""
    daemon = _compose()["services"]["telepath-monitor"]
    volumes = set(daemon["volumes"])
    assert (
        daemon["environment"]["TELEPATH_CONFIG"],
        "./alerts.yaml:/etc/telepath-monitor/alerts.yaml:ro" in volumes,
        "../rules:/etc/telepath-monitor/rules:ro" in volumes,
    ) == ("/etc/telepath-monitor/alerts.yaml", True, True)


def test_compose_bind_mounts_exist_and_images_are_pinned():
    """Every file compose mounts exists; third-party images carry a version tag."""
    services = _compose()["services"]
    missing = [
        source
        for service in services.values()
        for source in _bind_mounts(service).values()
        if not (DEPLOY / source).exists()
    ]
    unpinned = [
        s["image"]
        for name, s in services.items()
        if name != "telepath-monitor" and not re.search(r":v?\d+\.\d+\.\d+$", s["image"])
    ]
    assert (missing, unpinned, set(services)) == (
        [],
        [],
        {"telepath-monitor", "prometheus", "alertmanager", "grafana"},
    )


def test_prometheus_scrapes_the_daemon_under_the_job_the_rules_expect():
    """The scrape target is the compose service on 19310, as job telepath-monitor, every 15s."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["telepath-monitor"]
    rules_text = RULES.read_text()
    assert (
        job["static_configs"][0]["targets"],
        job["scrape_interval"],
        config["rule_files"],
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"],
        'up{job="telepath-monitor"}' in rules_text,
    ) == ([f"telepath-monitor:{PORT}"], "15s", ["rules.yaml"], ["alertmanager:9093"], True)


def test_grafana_provisioning_matches_the_compose_mounts():
    """The dashboard provider reads the folder compose mounts the dashboard into."""
    grafana = _compose()["services"]["grafana"]
    mounts = _bind_mounts(grafana)
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "telepath-monitor.yaml").read_text()
    )["providers"][0]
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )["datasources"][0]
    dashboard_path = f"{provider['options']['path']}/telepath-monitor.json"
    assert (
        mounts[dashboard_path],
        mounts["/etc/grafana/provisioning"],
        datasource["type"],
        datasource["url"],
    ) == ("./grafana/telepath-monitor.json", "./grafana/provisioning", "prometheus",
          "http://prometheus:9090")  # fmt: skip


# --- Kubernetes ---------------------------------------------------------------------------


def _manifests() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d is not None]
    return {d["kind"]: d for d in docs}


def test_kubernetes_manifests_hold_one_object_of_each_kind_without_namespace():
    """Secret, ConfigMap, PVC, Deployment and Service; the namespace is the applier's."""
    docs = [d for d in yaml.safe_load_all(KUBERNETES.read_text()) if d is not None]
    assert (
        [d["kind"] for d in docs],
        [d["metadata"].get("namespace") for d in docs],
    ) == (["Secret", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service"], [None] * 5)


def test_the_deployment_runs_one_locked_down_daemon():
    """One replica, Recreate, non-root uid 10001, read-only root, no capabilities, 30s grace."""
    deployment = _manifests()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert (
        deployment["spec"]["replicas"],
        deployment["spec"]["strategy"]["type"],
        pod["securityContext"]["runAsNonRoot"],
        pod["securityContext"]["runAsUser"],
        container["securityContext"]["readOnlyRootFilesystem"],
        container["securityContext"]["allowPrivilegeEscalation"],
        container["securityContext"]["capabilities"]["drop"],
        pod["terminationGracePeriodSeconds"],
        set(container["resources"]),
    ) == (1, "Recreate", True, 10001, True, False, ["ALL"], 30, {"requests", "limits"})


def test_the_deployment_probes_healthz_and_readyz_on_the_metrics_port():
    """Liveness asks /healthz, readiness /readyz, both on port 19310 named metrics."""
    (container,) = _manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e for e in container["env"]}
    assert (
        ports,
        container["livenessProbe"]["httpGet"],
        container["readinessProbe"]["httpGet"],
        env["TELEPATH_LISTEN"]["value"],
    ) == (
        {"metrics": PORT},
        {"path": "/healthz", "port": "metrics"},
        {"path": "/readyz", "port": "metrics"},
        f"0.0.0.0:{PORT}",
    )


def test_the_deployment_mounts_config_state_and_tmp():
    """Config from the ConfigMap (read-only), state on the PVC, /tmp writable; key from Secret."""
    manifests = _manifests()
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = {e["name"]: e for e in container["env"]}
    key_ref = env["TELEPATH_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert (
        volumes[mounts["/etc/telepath-monitor"]["name"]]["configMap"]["name"],
        mounts["/etc/telepath-monitor"]["readOnly"],
        volumes[mounts["/var/lib/telepath-monitor"]["name"]]["persistentVolumeClaim"],
        "emptyDir" in volumes[mounts[CONTAINER_TMP]["name"]],
        env["TELEPATH_CONFIG"]["value"],
        env["TELEPATH_STATE_DB"]["value"].startswith("/var/lib/telepath-monitor/"),
        key_ref["key"] in manifests["Secret"]["stringData"],
    ) == (
        manifests["ConfigMap"]["metadata"]["name"],
        True,
        {"claimName": manifests["PersistentVolumeClaim"]["metadata"]["name"]},
        True,
        "/etc/telepath-monitor/alerts.yaml",
        True,
        True,
    )


def test_the_service_exposes_a_named_metrics_port_for_servicemonitors():
    """Port "metrics" 19310, selecting the pods, labelled, kept while the pod is not ready."""
    manifests = _manifests()
    service = manifests["Service"]
    pod_labels = manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    (port,) = service["spec"]["ports"]
    assert (
        (port["name"], port["port"], port["targetPort"]),
        service["spec"]["selector"].items() <= pod_labels.items(),
        service["metadata"]["labels"]["app.kubernetes.io/name"],
        service["spec"]["publishNotReadyAddresses"],
    ) == (("metrics", PORT, "metrics"), True, "telepath-monitor", True)


# --- the daemon's own config files --------------------------------------------------------

_VAR = re.compile(r"\$\{(\w+)(?::-[^}]*)?\}")


def _env_for(text: str) -> dict[str, str]:
    """A value for every ${VAR} the text names: a URL where one is expected."""
    return {
        name: "https://hooks.example.com/telepath" if name.endswith("_URL") else "set"
        for name in _VAR.findall(text)
    }


def test_the_compose_config_passes_check(tmp_path):
    """deploy/alerts.yaml, laid out as compose mounts it, is valid with its variables set."""
    shutil.copy(DEPLOY / "alerts.yaml", tmp_path / "alerts.yaml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    env = _env_for((DEPLOY / "alerts.yaml").read_text())
    config = load_config(tmp_path / "alerts.yaml", env)
    types = {name: n.type for name, n in config.notifiers.items()}
    alertmanager = config.notifiers["alertmanager"]
    assert (types, getattr(alertmanager, "url", None), "SLACK_WEBHOOK_URL" in env) == (
        {"oncall": "slack", "alertmanager": "alertmanager"},
        "http://alertmanager:9093",
        True,
    )


def test_the_compose_config_reads_its_secrets_from_the_environment(tmp_path):
    """Without SLACK_WEBHOOK_URL set, check fails and names the variable."""
    shutil.copy(DEPLOY / "alerts.yaml", tmp_path / "alerts.yaml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    with pytest.raises(ConfigError, match="SLACK_WEBHOOK_URL is not set"):
        load_config(tmp_path / "alerts.yaml", {})


def test_the_configmap_config_passes_check(tmp_path):
    """The ConfigMap's alerts.yaml is valid with the Secret's variables set."""
    manifests = _manifests()
    text = manifests["ConfigMap"]["data"]["alerts.yaml"]
    (tmp_path / "alerts.yaml").write_text(text)
    env = _env_for(text)
    config = load_config(tmp_path / "alerts.yaml", env)
    assert (len(config.rules) > 0, set(env) <= set(manifests["Secret"]["stringData"])) == (
        True,
        True,
    )
