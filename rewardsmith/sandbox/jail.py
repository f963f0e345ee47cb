"""Layer 5: the worker jail.

A worker (a dry run, a training job) is a child process that gets:

* its own session and process group (``setsid``), so the whole group can be killed at once;
* resource limits: CPU seconds, address space, file size, open files, core dumps off, and
  processes where that limit means something (see :class:`Limits`);
* a clean environment: an allow-list of variables, nothing that looks like a secret;
* its working directory: the candidate's folder;
* isolation from the rest of the machine, the strongest the machine allows, detected once
  (see :func:`isolation`):

  ``bwrap``   bubblewrap: the root file system read-only, the home folder and ``/tmp`` replaced
              by empty private ones, only the candidate folder writable; no network (own network
              namespace); own pid, ipc, uts and user namespaces; runs as ``nobody`` with no
              capabilities; dies with its parent.
  ``netns``   no bubblewrap: ``unshare(CLONE_NEWNET)`` in the child (root), or a user namespace
              plus a network namespace (unprivileged, where the kernel allows it): no network,
              but the file system is the user's own.
  ``none``    neither works: rlimits, session, clean environment only. Run rewardsmith as a
              separate user or in a container (docs/SECURITY.md).

  ``REWARDSMITH_JAIL=bwrap|netns|none`` forces a mode (``auto`` is the default).
  ``REWARDSMITH_JAIL_READ=path:path`` adds read-only paths inside the hidden home folder (the
  interpreter, the environment, rewardsmith, ``$REWARDSMITH_TASKS`` and loaded task files are
  always readable).

The parent watches the child with :class:`Watchdog` / :func:`run_watched`: a wall-clock limit
and a heartbeat; on a stall or overtime the whole process group is killed, and every ending is
put into words (:func:`describe_exit`). A worker never hangs the loop.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GiB = 1024**3
MiB = 1024**2

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 3600  # CPU seconds (RLIMIT_CPU): SIGXCPU past it
    # RLIMIT_AS (jax needs ~4 GiB of address space on a CPU); None: no limit (CUDA maps far
    # more virtual memory than it uses, so the JAX path on a GPU cannot run under one)
    address_space: int | None = 6 * GiB
    file_size: int = 512 * MiB  # RLIMIT_FSIZE: largest file the worker may write (SIGXFSZ)
    open_files: int = 256  # RLIMIT_NOFILE
    # RLIMIT_NPROC counts every process of the user, so it is only set where the worker runs as
    # its own user (bwrap's user namespace), or where the caller asks for it explicitly.
    processes: int | None = None
    wall_s: float = 3600.0  # killed past this
    stall_s: float = 120.0  # killed when no heartbeat for this long
    network: bool = False  # True: keep the network (never for untrusted code)
    gpu: bool = True  # bwrap: make /dev/nvidia* and /dev/dri visible
    tmp_size: int = 256 * MiB  # bwrap: size of each private tmpfs (/tmp, home, /dev/shm)


# Processes a bwrap worker may own (threads count): torch and OpenBLAS start one per core.
BWRAP_NPROC = 4096

# Environment variables a worker keeps; everything else (API keys included) is dropped.
KEEP_ENV = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "MUJOCO_GL", "PYOPENGL_PLATFORM",
    "VIRTUAL_ENV", "PYTHONPATH", "TMPDIR", "REWARDSMITH_TASKS", "REWARDSMITH_CACHE",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "JAX_PLATFORMS",
    "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_FLAGS",
    "XDG_CACHE_HOME",
)
# Never passed on, even if listed or given as extra.
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")


def _looks_secret(name: str) -> bool:
    up = name.upper()
    return any(m in up for m in SECRET_MARKERS)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker: an allow-list of variables, never one that looks secret."""
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"})
    if extra:
        env.update(extra)
    return {k: v for k, v in env.items() if not _looks_secret(k)}


# ---------------------------------------------------------------------------- isolation
@dataclass(frozen=True)
class Isolation:
    mode: str  # "bwrap" | "netns" | "none"
    network_blocked: bool
    filesystem_confined: bool  # root read-only, home and /tmp private, only the folder writable
    detail: str  # in words, for `rewardsmith doctor` and the docs
    bwrap_user: bool = False  # bwrap could make a user namespace (run as nobody, no caps)
    netns_flags: int = 0  # flags for unshare() in the netns mode


_ISOLATION: Isolation | None = None
_ISOLATION_LOCK = threading.Lock()


def isolation(refresh: bool = False) -> Isolation:
    """The strongest isolation this machine allows (probed once per process)."""
    global _ISOLATION
    with _ISOLATION_LOCK:
        if _ISOLATION is None or refresh:
            _ISOLATION = _detect(os.environ.get("REWARDSMITH_JAIL", "auto").strip().lower() or "auto")
        return _ISOLATION


def _detect(want: str) -> Isolation:
    if want not in ("auto", "bwrap", "netns", "none"):
        want = "auto"
    if want in ("auto", "bwrap"):
        bwrap = shutil.which("bwrap")
        if bwrap:
            for user in (True, False):
                if _probe_bwrap(user):
                    return Isolation(
                        "bwrap", True, True,
                        "bubblewrap: read-only root, private home and /tmp, only the candidate "
                        "folder writable, no network, own pid/ipc/uts namespaces"
                        + (", runs as nobody without capabilities" if user else ""),
                        bwrap_user=user,
                    )
    if want in ("auto", "bwrap", "netns"):
        for flags, how in ((CLONE_NEWNET, "unshare(CLONE_NEWNET)"),
                           (CLONE_NEWUSER | CLONE_NEWNET, "unshare(CLONE_NEWUSER|CLONE_NEWNET)")):
            if _probe_unshare(flags):
                return Isolation("netns", True, False,
                                 f"no bubblewrap: network namespace via {how}; the file system "
                                 "is not confined (install bubblewrap, or see docs/SECURITY.md)",
                                 netns_flags=flags)
    return Isolation("none", False, False,
                     "no bubblewrap and no network namespace: resource limits, own session and a "
                     "clean environment only; run rewardsmith as a separate user or in a "
                     "container (docs/SECURITY.md)")


def _probe_bwrap(user: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix="rewardsmith-probe-") as d:
        argv = _bwrap_prefix(Path(d), user=user, network=False, gpu=False, readable=()) + ["true"]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10, env=clean_env())
            return r.returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _unshare(libc, flags: int) -> None:
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare failed: {os.strerror(err)}")
    if flags & CLONE_NEWUSER:  # map our own uid/gid so files we write keep their owner
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")


def _probe_unshare(flags: int) -> bool:
    true = shutil.which("true") or "/bin/true"
    libc = _libc()
    try:
        r = subprocess.run([true], preexec_fn=lambda: _unshare(libc, flags), timeout=10,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        return r.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _under(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers")


def _hidden_dirs(cwd: Path) -> list[Path]:
    """Folders replaced by empty private ones inside bwrap: the home folder (secrets live
    there: ~/.ssh, ~/.netrc, API key files) and the temporary folders."""
    out = [Path("/tmp"), Path("/var/tmp")]
    home = Path(os.path.realpath(os.path.expanduser("~")))
    if home != Path("/") and home.is_dir() and not _under(home, cwd):
        out.append(home)
    return out


def _needed_paths() -> list[Path]:
    """What a Python worker must read: the interpreter, the environment, rewardsmith, tasks."""
    cands = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    cands.update(p for p in sys.path if p)
    pkg = Path(__file__).resolve().parent.parent  # rewardsmith/
    cands.add(str(pkg.parent))
    for var in ("REWARDSMITH_TASKS", "REWARDSMITH_JAIL_READ"):
        cands.update(p for p in os.environ.get(var, "").split(os.pathsep) if p)
    # task files this process loaded (tasks.load_task_file names their modules so): a worker
    # loads its task again from the same file, which may live in the hidden home folder
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if name.startswith("rewardsmith_task_") and f:
            cands.add(f)
    out = []
    for c in cands:
        p = Path(os.path.realpath(c))
        if p.exists():
            out.append(p)
    return out


def _bwrap_prefix(cwd: Path, *, user: bool, network: bool, gpu: bool,
                  readable: Sequence[Path], tmp_size: int = 256 * MiB,
                  writable: Path | None = None) -> list[str]:
    start = Path(os.path.realpath(cwd))
    cwd = Path(os.path.realpath(writable)) if writable is not None else start
    a = ["bwrap", "--die-with-parent", "--new-session", "--unshare-all"]
    if user:
        a += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns"]
    a += ["--cap-drop", "ALL"]
    if network:
        a += ["--share-net"]
    a += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    size = ["--size", str(int(tmp_size))]
    a += [*size, "--tmpfs", "/dev/shm"]
    hidden = _hidden_dirs(cwd)
    for h in hidden:
        if h.is_dir():
            a += [*size, "--tmpfs", str(h)]
    for secret in HIDDEN_FILES:  # readable inside: the sandbox's user owns what root owns
        if os.path.isfile(secret):
            a += ["--ro-bind", "/dev/null", secret]
    # re-expose, read-only, what the worker needs from inside a hidden folder
    needed = {p for p in [*_needed_paths(), *(Path(os.path.realpath(r)) for r in readable)]
              if p.exists()}
    ro = sorted((p for p in needed if any(_under(p, h) and p != h for h in hidden)),
                key=lambda p: len(p.parts))
    kept: list[Path] = []
    for p in ro:
        if any(_under(p, k) for k in kept) or _under(p, cwd):
            continue
        kept.append(p)
        a += ["--ro-bind", str(p), str(p)]
    # what the worker needs from inside its own folder stays read-only on top of it
    inside = sorted((p for p in needed if _under(p, cwd) and p != cwd), key=lambda p: len(p.parts))
    if gpu:
        for d in sorted(Path("/dev").glob("nvidia*")) + [Path("/dev/dri")]:
            if d.exists():
                a += ["--dev-bind", str(d), str(d)]
    a += ["--bind", str(cwd), str(cwd)]
    for p in inside:
        a += ["--ro-bind", str(p), str(p)]
    a += ["--chdir", str(start), "--"]
    return a


# -------------------------------------------------------------------------------- spawn
def _preexec(limits: Limits, iso: Isolation):
    libc = _libc() if iso.mode == "netns" and not limits.network else None

    def apply() -> None:
        os.setsid()
        if libc is not None:
            _unshare(libc, iso.netns_flags)
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 5))
        if limits.address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limits.address_space, limits.address_space))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        nproc = limits.processes
        if nproc is None and iso.mode == "bwrap" and iso.bwrap_user:
            nproc = BWRAP_NPROC
        if nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

    return apply


def spawn(argv: Sequence[str], cwd: Path, limits: Limits, *, stdout=None, stderr=None,
          pass_fds: Sequence[int] = (), env: Mapping[str, str] | None = None,
          readable: Sequence[Path] = (), stdin=None,
          writable: Path | None = None) -> subprocess.Popen:
    """Start ``argv`` jailed in ``cwd`` (created if missing); return the Popen.

    ``readable``: extra files or folders the worker must read (everything outside the home
    folder and /tmp is readable anyway, never writable). ``writable``: a folder holding
    ``cwd`` that the worker may write in instead of ``cwd`` alone (the folder of all the
    slices of one job, when one worker trains them in turn). The caller watches the process
    (:class:`Watchdog`, :func:`run_watched`) and ends it with :func:`kill_group`.
    """
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    cwd = Path(os.path.realpath(cwd))
    if writable is not None and not _under(cwd, Path(os.path.realpath(writable))):
        raise ValueError(f"{cwd} is not inside the writable folder {writable}")
    iso = isolation()
    wenv = clean_env(env)
    argv = list(argv)
    if iso.mode == "bwrap":
        argv = _bwrap_prefix(cwd, user=iso.bwrap_user, network=limits.network, gpu=limits.gpu,
                             readable=readable, tmp_size=limits.tmp_size,
                             writable=writable) + argv
        wenv["TMPDIR"] = "/tmp"
    else:
        # Keep scratch files inside the candidate's folder.
        tmp = cwd / ".tmp"
        tmp.mkdir(exist_ok=True)
        wenv["TMPDIR"] = str(tmp)
    return subprocess.Popen(
        argv, cwd=cwd, env=wenv, stdin=subprocess.DEVNULL if stdin is None else stdin,
        stdout=stdout, stderr=stderr, pass_fds=tuple(pass_fds), preexec_fn=_preexec(limits, iso),
        close_fds=True,
    )


def python_argv(module: str, *args: str) -> list[str]:
    """``python -m module args`` for a worker; ``-P`` keeps its folder off ``sys.path``, so a
    file the worker writes there cannot shadow a module."""
    flags = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *flags, "-s", "-m", module, *args]


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the worker and everything it started (under bwrap, its whole pid namespace)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except (ProcessLookupError, OSError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


_SIGNAL_WORDS = {
    "SIGKILL": "was killed with SIGKILL (most often the out-of-memory killer: it used too much "
               "memory)",
    "SIGXCPU": "ran out of CPU time (SIGXCPU: over its CPU-seconds limit)",
    "SIGXFSZ": "wrote a file or output larger than allowed (SIGXFSZ: e.g. flooding stdout)",
    "SIGSEGV": "crashed with a segmentation fault (SIGSEGV)",
    "SIGBUS": "crashed with a bus error (SIGBUS)",
    "SIGABRT": "aborted (SIGABRT)",
    "SIGFPE": "crashed with a floating-point exception (SIGFPE)",
    "SIGILL": "crashed with an illegal instruction (SIGILL)",
    "SIGTERM": "was terminated (SIGTERM)",
    "SIGINT": "was interrupted (SIGINT)",
    "SIGPIPE": "wrote to a closed pipe (SIGPIPE)",
}


def describe_exit(returncode: int | None) -> str:
    """Say in words why a worker ended (``Popen.returncode``; bwrap's 128+N counts as N)."""
    if returncode is None:
        return "is still running"
    sig = None
    if returncode < 0:
        sig = -returncode
    elif 128 < returncode < 128 + 65 and isolation().mode == "bwrap":
        sig = returncode - 128  # bwrap's pid 1 reports a signalled child as 128 + N
    if sig is None:
        return "exited normally" if returncode == 0 else f"exited with status {returncode}"
    try:
        name = signal.Signals(sig).name
    except ValueError:
        return f"was killed by signal {sig}"
    return _SIGNAL_WORDS.get(name, f"was killed by a signal ({name})")


# ----------------------------------------------------------------------------- watching
@dataclass
class RunOutcome:
    """How a watched worker ended."""

    returncode: int | None
    reason: str  # in words: "exited normally", "ran over its time limit of 10 s ...", ...
    killed: bool  # killed by the watchdog (stalled or over time)
    elapsed_s: float
    output: bytes = b""  # what arrived on the heartbeat pipe (capped)

    @property
    def ok(self) -> bool:
        return not self.killed and self.returncode == 0


@dataclass
class Watchdog:
    """Wall-clock limit and heartbeat for one worker.

    Call :meth:`beat` whenever the worker shows life (bytes on its pipe, a file touched), and
    :meth:`check` regularly: it kills the whole process group and returns the reason in words
    when the worker stalls or runs over time, else None.
    """

    proc: subprocess.Popen
    wall_s: float
    stall_s: float | None = None
    heartbeat_file: Path | None = None
    started: float = field(default_factory=time.monotonic)
    last_beat: float = field(default_factory=time.monotonic)
    _mtime: float | None = None
    reason: str | None = None

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def check(self) -> str | None:
        if self.reason is not None:
            return self.reason
        if self.proc.poll() is not None:
            return None
        if self.heartbeat_file is not None:
            try:
                m = os.stat(self.heartbeat_file).st_mtime
            except OSError:
                m = None
            if m is not None and m != self._mtime:
                self._mtime = m
                self.beat()
        now = time.monotonic()
        if now - self.started > self.wall_s:
            self.reason = f"ran over its time limit of {self.wall_s:g} s and was killed"
        elif self.stall_s is not None and now - self.last_beat > self.stall_s:
            self.reason = (f"stalled (no heartbeat for {self.stall_s:g} s) and was killed")
        else:
            return None
        kill_group(self.proc)
        return self.reason


def run_watched(proc: subprocess.Popen, *, wall_s: float, stall_s: float | None = None,
                heartbeat_fd: int | None = None, heartbeat_file: Path | None = None,
                poll_s: float = 0.02, max_output: int = 1 * MiB) -> RunOutcome:
    """Wait for ``proc`` under a :class:`Watchdog`; kill its group on a stall or overtime.

    The heartbeat is bytes arriving on ``heartbeat_fd`` (a pipe's read end; kept, up to
    ``max_output`` bytes, in ``RunOutcome.output``; closed here) or a change of the modification
    time of ``heartbeat_file``. Never raises for anything the worker does; always reaps it.
    """
    wd = Watchdog(proc, wall_s, stall_s, heartbeat_file)
    out = bytearray()
    if heartbeat_fd is not None:
        os.set_blocking(heartbeat_fd, False)
    sleep = 0.002
    try:
        while True:
            if heartbeat_fd is not None:
                while True:
                    try:
                        chunk = os.read(heartbeat_fd, 65536)
                    except BlockingIOError:
                        break
                    except OSError:
                        chunk = b""
                    if not chunk:
                        break
                    wd.beat()
                    if len(out) < max_output:
                        out += chunk[: max_output - len(out)]
            if proc.poll() is not None:
                break
            if wd.check() is not None:
                break
            time.sleep(sleep)
            sleep = min(poll_s, sleep * 2)
    finally:
        if proc.poll() is None:
            kill_group(proc)
        if heartbeat_fd is not None:
            try:
                os.close(heartbeat_fd)
            except OSError:
                pass
    # reap anything left in the group (a worker's children)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    elapsed = time.monotonic() - wd.started
    if wd.reason is not None:
        return RunOutcome(proc.returncode, wd.reason, True, elapsed, bytes(out))
    return RunOutcome(proc.returncode, describe_exit(proc.returncode), False, elapsed, bytes(out))
