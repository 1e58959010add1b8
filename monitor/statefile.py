"""The state DB's file and directory: created owner-only, refused when unsafe.

The state DB holds alert states and the notification outbox (which carries alert
payloads); whoever can write it can forge or drop alerts. So:

- a missing directory is created ``0700`` and a missing DB file ``0600`` (SQLite
  gives its ``-wal`` and ``-shm`` files the DB file's mode);
- a DB file writable by others (``o+w``), or in a directory others may write without
  the sticky bit (anyone could swap the file), is refused. Group-writable is
  accepted: Kubernetes' ``fsGroup`` makes volume files group-writable on purpose;
- a DB the daemon cannot write is refused at start, rather than failing every sync
  and evaluation afterwards.

Each refusal is a :class:`~monitor.errors.StateFileError` whose message says how to fix it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from monitor.errors import StateFileError

FILE_MODE = 0o600
DIR_MODE = 0o700


def prepare_state_file(path: Path) -> None:
    """Create the DB's directory and file owner-only if missing; refuse unsafe ones.

    Raises:
        StateFileError: the file or directory is writable by others, is not a regular
            file, or cannot be written by this process; the message says what to run.
    """
    directory = path.parent
    if not directory.exists():
        try:
            directory.mkdir(mode=DIR_MODE, parents=True)
        except OSError as exc:
            raise StateFileError(
                f"TELEPATH_STATE_DB {path}: cannot create the directory {directory} "
                f"({exc.strerror}); create it and give it to the daemon's user "
                f"(mkdir -m 700 {directory})"
            ) from None
    _check_directory(path, directory)
    if not path.exists():
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
        except FileExistsError:
            pass  # created meanwhile by another process: checked below like any file
        except OSError as exc:
            raise StateFileError(
                f"TELEPATH_STATE_DB {path}: cannot create the file ({exc.strerror}); "
                f"make {directory} writable for the daemon's user "
                f"(chown <user> {directory}; chmod 700 {directory})"
            ) from None
    _check_file(path)


def _check_directory(path: Path, directory: Path) -> None:
    mode = directory.stat().st_mode
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise StateFileError(
            f"TELEPATH_STATE_DB {path}: the directory {directory} is writable by others, "
            f"who could replace the state DB; fix with: chmod o-w {directory}"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        # SQLite writes its -wal and -shm files beside the DB.
        raise StateFileError(
            f"TELEPATH_STATE_DB {path}: the daemon cannot write the directory {directory} "
            f"(SQLite keeps its journal there); fix with: chown <daemon user> {directory}"
        )


def _check_file(path: Path) -> None:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise StateFileError(f"TELEPATH_STATE_DB {path} is not a regular file")
    if info.st_mode & stat.S_IWOTH:
        raise StateFileError(
            f"TELEPATH_STATE_DB {path} is writable by others, who could forge or drop "
            f"alerts; fix with: chmod 600 {path}"
        )
    if not os.access(path, os.R_OK | os.W_OK):
        raise StateFileError(
            f"TELEPATH_STATE_DB {path} cannot be written by this process (uid "
            f"{os.geteuid()}); fix with: chown {os.geteuid()} {path}; chmod 600 {path}"
        )
