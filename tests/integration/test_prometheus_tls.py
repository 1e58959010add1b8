"""The real Prometheus (Debian's ``prometheus``) scrapes the real daemon over TLS with
basic auth; ``promtool check web-config`` accepts the example in deploy/ (issue 19).

Certificates are made at test time (tests/support/tls.py); nothing secret is committed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml

from monitor.webconfig import load_web_config
from tests.e2e.harness import Scenario
from tests.support.tls import Certs, make_certs
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "web" / "web-config.yml"
PASSWORD = "scrape-password-for-tests"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install Debian's prometheus package (.ci/run does)")
    return path


def example_with_certs(directory: Path) -> tuple[Path, Certs]:
    """deploy/web/web-config.yml beside freshly made tls.crt and tls.key."""
    certs = make_certs(directory)
    shutil.copy(certs.server_cert, directory / "tls.crt")
    shutil.copy(certs.server_key, directory / "tls.key")
    path = directory / "web-config.yml"
    shutil.copy(EXAMPLE, path)
    return path, certs


def test_promtool_accepts_the_example_web_config(tmp_path):
    """The shipped example passes `promtool check web-config` and our own check."""
    path, _ = example_with_certs(tmp_path)
    result = subprocess.run(
        [tool("promtool"), "check", "web-config", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_web_config(path)
    assert config.tls is not None
    assert list(config.users) == ["prometheus"]


def test_the_compose_prometheus_config_for_tls_is_valid():
    """`promtool check config` passes on deploy/prometheus/prometheus-web.yml."""
    config = ROOT / "deploy" / "prometheus" / "prometheus-web.yml"
    result = subprocess.run(
        [tool("promtool"), "check", "config", "--syntax-only", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    job = yaml.safe_load(config.read_text())["scrape_configs"][0]
    assert (job["job_name"], job["scheme"]) == ("telepath-monitor", "https")
    assert job["basic_auth"]["password_file"].startswith("/etc/prometheus-web/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def prometheus(directory: Path, jobs: list[dict[str, Any]]) -> Iterator[str]:
    """Run Prometheus on loopback scraping ``jobs`` every second; yields its base URL."""
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))
    port = free_port()
    log = (directory / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            tool("prometheus"), f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def targets(base: str) -> dict[str, dict[str, Any]]:
    try:
        body = httpx.get(f"{base}/api/v1/targets", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return {t["labels"]["job"]: t for t in body["data"]["activeTargets"]}


def test_prometheus_scrapes_the_daemon_over_tls_with_basic_auth(tmp_path):
    """Right password: the target is up and the daemon's series are stored. Wrong one: 401."""
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    certs = make_certs(web_dir)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    web = web_dir / "web-config.yml"
    web.write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  prometheus: {hashed}\n"
    )
    (web_dir / "password").write_text(PASSWORD)
    (web_dir / "wrong").write_text("not-the-password")
    run = Scenario(workdir=tmp_path)
    try:
        run.start_api(scenario="steady")
        run.write_config("poll: {calls_every: 2s}\nrules: []\n")
        run.extra_env["TELEPATH_WEB_CONFIG"] = str(web)
        daemon = run.daemon()
        port = daemon.port()
        target = f"127.0.0.1:{port}"
        tls = {"ca_file": str(certs.ca), "server_name": "127.0.0.1"}

        def login(file: str) -> dict[str, str]:
            return {"username": "prometheus", "password_file": str(web_dir / file)}

        jobs: list[dict[str, Any]] = [
            {
                "job_name": "telepath-monitor", "scheme": "https", "tls_config": tls,
                "basic_auth": login("password"),
                "static_configs": [{"targets": [target]}],
            },
            {
                "job_name": "wrong-password", "scheme": "https", "tls_config": tls,
                "basic_auth": login("wrong"),
                "static_configs": [{"targets": [target]}],
            },
            {"job_name": "plain-http", "static_configs": [{"targets": [target]}]},
        ]  # fmt: skip
        prom_dir = tmp_path / "prometheus"
        prom_dir.mkdir()
        with prometheus(prom_dir, jobs) as base:

            def scraped() -> dict[str, dict[str, Any]] | None:
                found = targets(base)
                done = len(found) == 3 and all(t["health"] != "unknown" for t in found.values())
                return found if done else None

            found = wait_for(scraped, "three scraped targets", 60)
            assert found["telepath-monitor"]["health"] == "up", found["telepath-monitor"]
            assert found["wrong-password"]["health"] == "down"
            assert "401" in found["wrong-password"]["lastError"]
            assert found["plain-http"]["health"] == "down"

            def stored(query: str) -> list[Any] | None:
                answer = httpx.get(f"{base}/api/v1/query", params={"query": query}, timeout=5)
                result: list[Any] = answer.json()["data"]["result"]
                return result or None

            job = '{job="telepath-monitor"'
            assert wait_for(lambda: stored(f"telepath_monitor_build_info{job}}}"), "series", 30)
            # The wrong password's refusals, counted by the daemon, scraped with the right one.
            refused = f'telepath_monitor_http_auth_failures_total{job},reason="wrong"}} > 0'
            assert wait_for(lambda: stored(refused), "counted failed logins", 30)
        output = daemon.output()
    finally:
        run.close()
    assert PASSWORD not in output
    assert hashed not in output
