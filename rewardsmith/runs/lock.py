"""One process at a time in a run's (or a benchmark's) folder.

Two processes writing one run (``design --resume`` typed while the run still goes in another
terminal) would train the same candidates into the same folders and interleave their records.
:func:`exclusive` holds an advisory ``flock`` on ``<folder>/.lock`` while the work goes on: the
kernel lets it go when the process ends, however it ends, so a crash leaves no stale lock. The
file keeps the holder's pid, to name it in the error."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rewardsmith.errors import RewardsmithError

LOCK = ".lock"
_held = threading.local()  # the folders this thread holds: holding one again is a no-op


@contextmanager
def exclusive(folder: Path, what: str = "run", resume: str | None = None) -> Iterator[None]:
    """Hold ``folder``'s lock for the duration; another holder (another process, or another
    thread of this one) makes it a :class:`RewardsmithError` that names the holder's pid and
    ``resume`` (the command that continues the work once the holder has stopped)."""
    import fcntl

    folder = Path(folder)
    key = str(folder.resolve())
    held: set[str] = _held.__dict__.setdefault("folders", set())
    if key in held:  # the command took it before writing; the loop it starts takes it again
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            holder = os.read(fd, 32).decode(errors="replace").strip()
        finally:
            os.close(fd)
        who = f"process {holder}" if holder.isdigit() else "another process"
        hint = "wait for it to end, or stop it (Ctrl-C)"
        raise RewardsmithError(f"{what} {folder} is in use by {who}",
                               hint + (f", then: {resume}" if resume else "")) from None
    held.add(key)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        held.discard(key)
        os.ftruncate(fd, 0)  # no holder now (a killed one leaves its pid: see holder())
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def holder(folder: Path) -> int | None:
    """The pid of the process working in ``folder`` now, or None. Read from the lock file
    without touching the lock: a holder that was killed leaves its pid there, so the pid
    counts only while that process lives."""
    try:
        text = (Path(folder) / LOCK).read_text().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return pid
