"""Layer 5: the worker jail. A worker is a child process in its own session, with resource limits,
a clean environment, its working directory confined to its own folder, and (where the kernel
allows) no network. The parent watches a heartbeat and kills the whole process group on a stall.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GiB = 1024**3


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 3600  # CPU seconds (RLIMIT_CPU): SIGXCPU past it
    address_space: int = 6 * GiB  # RLIMIT_AS
    file_size: int = 512 * 1024**2  # RLIMIT_FSIZE: largest file the worker may write
    open_files: int = 256  # RLIMIT_NOFILE
    processes: int | None = None  # RLIMIT_NPROC (per user: only set where the worker has its own)
    wall_s: float = 3600.0  # killed past this
    stall_s: float = 120.0  # killed when no heartbeat for this long


# Environment variables a worker keeps; everything else (API keys included) is dropped.
KEEP_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "MUJOCO_GL", "PYOPENGL_PLATFORM",
            "VIRTUAL_ENV", "PYTHONPATH", "TMPDIR")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    if extra:
        env.update(extra)
    return env


def _preexec(limits: Limits):
    def apply() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_AS, (limits.address_space, limits.address_space))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if limits.processes is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return apply


def spawn(argv: Sequence[str], cwd: Path, limits: Limits, *, stdout=None, stderr=None,
          pass_fds: Sequence[int] = (), env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start ``argv`` jailed in ``cwd``. The caller watches it and calls :func:`kill_group`."""
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        list(argv), cwd=cwd, env=clean_env(env), stdin=subprocess.DEVNULL,
        stdout=stdout, stderr=stderr, pass_fds=tuple(pass_fds), preexec_fn=_preexec(limits),
        close_fds=True,
    )


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the worker and everything it started."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def describe_exit(returncode: int) -> str:
    """Say in words why a worker ended."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    sig = -returncode
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
    why = {
        "SIGKILL": "killed (out of memory, over time, or stalled)",
        "SIGXCPU": "ran out of CPU time",
        "SIGXFSZ": "wrote a file larger than allowed",
        "SIGSEGV": "crashed (segmentation fault)",
        "SIGABRT": "aborted",
    }.get(name, "killed by a signal")
    return f"{why} ({name})"
