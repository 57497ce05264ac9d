"""One run per folder at a time: an advisory lock on ``RUN_DIR/.lock``, held for the whole run.

The lock is ``fcntl.flock`` on a file that stays in place: the kernel drops it the instant the holding
process ends, however it ends (``kill -9`` included), so a folder is never left locked by a dead run and
resuming needs no clean-up. The file holds the holder's pid, host and start time, written after the lock is
taken, so a refused run can say who holds the folder. A second run fails fast with that message unless it
was asked to wait (``ferbench run --wait``). The file is never deleted: unlinking a locked file would let a
waiting process lock the old inode while a newcomer locks a new one.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import FerbenchError

LOCK_NAME = ".lock"


class FolderBusy(FerbenchError):
    """Another ferbench process holds the run folder's lock."""


def holder(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What the lock file says about its (last) holder, or None when there is none or it is unreadable."""
    try:
        data = json.loads((Path(run_dir) / LOCK_NAME).read_text() or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another ferbench process"
    return f"ferbench pid {info.get('pid')} on {info.get('host')} (started {info.get('started')})"


class RunLock:
    """``with RunLock(out, wait=False):`` holds ``out`` for one run; raises :class:`FolderBusy` if taken."""

    def __init__(self, run_dir: str | os.PathLike[str], *, wait: bool = False, command: str = "") -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.wait = wait
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                who = _describe(holder(self.run_dir))
                if not self.wait:
                    raise FolderBusy(
                        f"{self.run_dir}: in use by {who}; one run per --out folder at a time "
                        "(wait for it to finish, pass --wait to queue behind it, or use another --out)"
                    ) from None
                print(f"ferbench: {self.run_dir} is in use by {who}; waiting", file=sys.stderr, flush=True)
                fcntl.flock(fd, fcntl.LOCK_EX)
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "started_unix": time.time(),
                "command": self.command,
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
