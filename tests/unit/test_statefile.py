"""The state DB and its directory: owner-only, refused when unsafe (issue 19, points 3, 6)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import StateFileError
from monitor.store import StateError, StateStore

NOBODY = 65534


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_db_and_its_directory_are_owner_only(tmp_path):
    """A missing directory is created 0700, the DB 0600, and its WAL files follow."""
    path = tmp_path / "state" / "deeper" / "monitor.db"
    store = StateStore(path)
    store.set_meta("probe", "1")
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600
    wal = path.with_name(path.name + "-wal")
    assert wal.exists()
    assert mode(wal) & 0o077 == 0
    store.close()


def test_an_existing_db_keeps_its_mode(tmp_path):
    """A group-readable DB made by an older version (or fsGroup) is accepted as it is."""
    path = tmp_path / "monitor.db"
    path.touch(mode=0o660)
    path.chmod(0o660)
    StateStore(path).close()
    assert mode(path) == 0o660


def test_a_db_writable_by_others_is_refused_with_the_fix(tmp_path):
    """o+w on the DB: refused, exit code 2, and the message gives the chmod to run."""
    path = tmp_path / "monitor.db"
    StateStore(path).close()
    path.chmod(0o666)
    with pytest.raises(StateFileError) as caught:
        StateStore(path)
    assert caught.value.exit_code == 2
    assert f"chmod 600 {path}" in str(caught.value)


def test_a_directory_writable_by_others_is_refused_unless_sticky(tmp_path):
    """Anyone could swap the DB in an o+w directory; the sticky bit prevents that."""
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o777)
    with pytest.raises(StateFileError, match=f"chmod o-w {directory}"):
        StateStore(directory / "monitor.db")
    directory.chmod(0o1777)
    StateStore(directory / "monitor.db").close()


def test_a_directory_path_is_not_a_db(tmp_path):
    """A directory where the DB should be is refused plainly."""
    (tmp_path / "monitor.db").mkdir()
    with pytest.raises(StateFileError, match="not a regular file"):
        StateStore(tmp_path / "monitor.db")


def test_run_refuses_a_db_writable_by_others_before_polling(tmp_path, monkeypatch, capsys):
    """`run` exits 2 with the fix on stderr; nothing is polled or served."""
    path = tmp_path / "monitor.db"
    StateStore(path).close()
    path.chmod(0o646)
    config = tmp_path / "alerts.yaml"
    config.write_text("rules: []\n")
    monkeypatch.setenv("TELEPATH_API_KEY", "sk_test_statefile")
    monkeypatch.setenv("TELEPATH_API_URL", "http://127.0.0.1:9")
    code = main(
        ["run", "--config", str(config), "--state-db", str(path), "--listen", "127.0.0.1:0"]
    )
    assert code == 2
    assert f"chmod 600 {path}" in capsys.readouterr().err


def _open_as_nobody(path: Path) -> str:
    """Open the store in a forked child that dropped root for nobody; its outcome."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                StateStore(path).close()
                outcome = "opened"
            except StateFileError as exc:
                outcome = f"refused {exc.exit_code} {exc}"
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails
                outcome = f"unexpected {exc!r}"
            os.write(write, outcome.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        outcome = pipe.read().decode()
    os.waitpid(pid, 0)
    return outcome


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to check as another user")
def test_a_db_the_daemon_cannot_write_is_refused_at_start():
    """Another user's read-only DB: refused when the store opens, with the fix."""
    # Not tmp_path: its parents are root's 0700 directories, closed to nobody.
    with tempfile.TemporaryDirectory(dir="/tmp") as name:
        _check_refused_as_nobody(Path(name))


def _check_refused_as_nobody(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "monitor.db"
    StateStore(path).close()
    path.chmod(0o644)  # root's file: readable, not writable, by nobody
    outcome = _open_as_nobody(path)
    assert outcome.startswith("refused 2 "), outcome
    assert "cannot write the directory" in outcome  # the directory is checked first
    tmp_path.chmod(0o777 | stat.S_ISVTX)  # now only the file is in the way
    outcome = _open_as_nobody(path)
    assert outcome.startswith("refused 2 "), outcome
    assert f"cannot be written by this process (uid {NOBODY})" in outcome
    assert f"chmod 600 {path}" in outcome


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes any file; covered by the test above")
def test_a_read_only_db_is_refused_at_start(tmp_path):
    """chmod 400 on our own DB: refused at open, with the fix."""
    path = tmp_path / "monitor.db"
    StateStore(path).close()
    path.chmod(0o400)
    with pytest.raises((StateFileError, StateError), match="chmod 600"):
        StateStore(path)
