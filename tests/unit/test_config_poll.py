"""The poll section: defaults that yield to what the user wrote (issue 13)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError


@pytest.mark.parametrize(("backfill", "overlap"), [("5m", 5), ("2m", 2), ("1h", 10)])
def test_a_backfill_alone_caps_the_default_overlap(
    tmp_path: Path, backfill: str, overlap: int
) -> None:
    """`backfill: 5m` alone was refused about an overlap the user never wrote."""
    path = tmp_path / "alerts.yaml"
    path.write_text(f"poll:\n  backfill: {backfill}\n")
    poll = load_config(path, env={}).poll
    assert poll.overlap == timedelta(minutes=overlap)
    assert poll.sweep_every == timedelta(minutes=5)


def test_two_explicit_values_that_conflict_are_an_error_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("poll:\n  backfill: 5m\n  overlap: 10m\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    (problem,) = caught.value.problems
    assert "poll.overlap is longer than poll.backfill (10m > 5m)" in problem


def test_sweep_every_is_read(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("poll:\n  sweep_every: 2m\n")
    assert load_config(path, env={}).poll.sweep_every == timedelta(minutes=2)
