"""Layer 5, the worker jail: session, limits, clean environment, confinement, watchdog."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewardsmith.sandbox import jail

PY = sys.executable
QUICK = jail.Limits(cpu_s=20, address_space=1 * jail.GiB, file_size=1 * jail.MiB,
                    open_files=64, wall_s=10, stall_s=10, gpu=False)


def run_py(code: str, cwd: Path, limits: jail.Limits = QUICK, wall_s: float = 8.0,
           stall_s: float | None = None, heartbeat_file: Path | None = None, env=None):
    r, w = os.pipe()
    proc = jail.spawn([PY, "-c", code], cwd, limits, stdout=w, stderr=subprocess.STDOUT, env=env)
    os.close(w)
    return jail.run_watched(proc, wall_s=wall_s, stall_s=stall_s, heartbeat_fd=r,
                            heartbeat_file=heartbeat_file)


@pytest.fixture
def forced_mode(monkeypatch):
    """Force a jail mode for one test; the probed mode comes back afterwards."""

    def force(mode: str) -> jail.Isolation:
        monkeypatch.setenv("REWARDSMITH_JAIL", mode)
        monkeypatch.setattr(jail, "_ISOLATION", None)
        return jail.isolation()

    return force


def test_clean_env_drops_secrets_and_unknown_variables(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("SOME_RANDOM_SETTING", "x")
    env = jail.clean_env({"GITHUB_TOKEN": "x", "MUJOCO_GL": "egl"})
    assert "OPENAI_API_KEY" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "SOME_RANDOM_SETTING" not in env and "GITHUB_TOKEN" not in env
    assert env["MUJOCO_GL"] == "egl" and env["OMP_NUM_THREADS"] == "1"
    assert "PATH" in env


def test_worker_runs_in_its_folder_with_a_clean_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "secret-value")
    cand = tmp_path / "cand"
    out = run_py("import os\nopen('made.txt', 'w').write(os.getcwd())\n"
                 "print(sorted(os.environ))\nprint(os.getsid(0) == os.getpid() or 'ns')",
                 cand)
    assert out.ok, out
    assert (cand / "made.txt").read_text() == str(cand.resolve())
    assert b"ANTHROPIC_API_KEY" not in out.output and b"secret-value" not in out.output


def test_python_argv_keeps_the_folder_off_sys_path():
    argv = jail.python_argv("rewardsmith.sandbox.dryrun_worker", "x.json")
    assert argv[0] == sys.executable and "-m" in argv and argv[-1] == "x.json"
    if sys.version_info >= (3, 11):
        assert "-P" in argv


def test_over_time_kills_the_whole_group(tmp_path):
    """A worker and its grandchild are both gone after an overtime kill."""
    cand = tmp_path / "cand"
    code = ("import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time, pathlib\\n"
            "p = pathlib.Path(\"beat\")\\n"
            "while True:\\n    p.write_text(str(time.time()))\\n    time.sleep(0.05)'])\n"
            "time.sleep(100)\n")
    out = run_py(code, cand, wall_s=1.0)
    assert out.killed and "ran over its time limit of 1 s" in out.reason
    time.sleep(0.3)
    beat = cand / "beat"
    assert beat.exists()
    m = beat.stat().st_mtime
    time.sleep(0.4)
    assert beat.stat().st_mtime == m, "the grandchild survived the kill"


def test_stall_is_detected_by_the_heartbeat_file(tmp_path):
    cand = tmp_path / "cand"
    code = ("import time, pathlib\n"
            "for i in range(5):\n    pathlib.Path('hb').write_text(str(i))\n    time.sleep(0.1)\n"
            "time.sleep(100)\n")
    out = run_py(code, cand, wall_s=20, stall_s=0.6, heartbeat_file=cand / "hb")
    assert out.killed and out.reason.startswith("stalled (no heartbeat for 0.6 s)")


def test_a_beating_worker_is_not_taken_for_a_stalled_one(tmp_path):
    code = ("import time\nfor i in range(8):\n    print('beat', flush=True)\n"
            "    time.sleep(0.08)\n")
    out = run_py(code, tmp_path, wall_s=20, stall_s=0.5)
    assert out.ok, out
    assert out.output.count(b"beat") == 8


def test_cpu_limit_gives_sigxcpu(tmp_path):
    limits = jail.Limits(cpu_s=1, address_space=1 * jail.GiB, file_size=jail.MiB, gpu=False)
    out = run_py("while True:\n    pass\n", tmp_path, limits=limits, wall_s=15)
    assert not out.killed
    assert "CPU time" in out.reason and "SIGXCPU" in out.reason


def test_address_space_limit_gives_memory_error(tmp_path):
    out = run_py("b = bytearray(3 * 1024 ** 3)\n", tmp_path)
    assert out.returncode == 1 and b"MemoryError" in out.output


def test_file_size_limit(tmp_path):
    out = run_py("f = open('big', 'wb')\nf.write(b'x' * (4 * 1024 * 1024))\n", tmp_path)
    assert out.returncode != 0
    assert (tmp_path / "big").stat().st_size <= QUICK.file_size
    assert b"File too large" in out.output or "SIGXFSZ" in out.reason


def test_segfault_is_put_into_words(tmp_path):
    out = run_py("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", tmp_path)
    assert not out.ok and "segmentation fault" in out.reason


def test_exit_status_is_put_into_words(tmp_path):
    out = run_py("import os\nos._exit(7)\n", tmp_path)
    assert out.returncode == 7 and out.reason == "exited with status 7"


def test_describe_exit():
    assert jail.describe_exit(0) == "exited normally"
    assert jail.describe_exit(2) == "exited with status 2"
    assert "out-of-memory" in jail.describe_exit(-9)
    assert "segmentation fault" in jail.describe_exit(-11)
    assert "CPU time" in jail.describe_exit(-24)
    assert "SIGXFSZ" in jail.describe_exit(-25)
    assert jail.describe_exit(None) == "is still running"


def test_kill_group_on_a_finished_process_is_harmless(tmp_path):
    proc = jail.spawn([PY, "-c", "pass"], tmp_path, QUICK)
    proc.wait()
    jail.kill_group(proc)
    assert proc.returncode == 0


def test_pass_fds_reach_the_worker(tmp_path):
    r, w = os.pipe()
    proc = jail.spawn([PY, "-c", f"import os; os.write({w}, b'hello')"], tmp_path, QUICK,
                      pass_fds=(w,))
    os.close(w)
    out = jail.run_watched(proc, wall_s=10, heartbeat_fd=r)
    assert out.ok and out.output == b"hello"


def _listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.2)
    return srv


NET_CODE = ("import socket\ns = socket.socket()\ns.settimeout(2)\n"
            "try:\n    s.connect(('127.0.0.1', {port}))\n    print('CONNECTED')\n"
            "except OSError as e:\n    print('blocked', e)\n")


def test_no_network(tmp_path):
    iso = jail.isolation()
    if not iso.network_blocked:
        pytest.skip(f"no network namespace on this machine ({iso.mode})")
    srv = _listener()
    out = run_py(NET_CODE.format(port=srv.getsockname()[1]), tmp_path)
    assert b"blocked" in out.output and b"CONNECTED" not in out.output
    with pytest.raises(socket.timeout):
        srv.accept()
    srv.close()


def test_file_system_is_confined_to_the_folder(tmp_path):
    iso = jail.isolation()
    if not iso.filesystem_confined:
        pytest.skip(f"the file system is only confined under bubblewrap ({iso.mode})")
    (tmp_path / "secret.txt").write_text("s3cret")
    cand = tmp_path / "cand"
    repo = Path(jail.__file__).resolve().parents[2]
    code = (
        "import os\n"
        "res = []\n"
        f"for p in ['../secret.txt', '{repo}/pyproject.toml']:\n"
        "    try:\n        open(p).read()\n        res.append('read ' + p)\n"
        "    except OSError:\n        res.append('noread ' + p)\n"
        f"for p in ['../x.txt', '{repo}/x_rewardsmith_jail_test', '/usr/x', os.path.expanduser('~/x_rs')]:\n"
        "    try:\n        open(p, 'w').write('x')\n        res.append('wrote ' + p)\n"
        "    except OSError:\n        res.append('nowrite ' + p)\n"
        "open('/tmp/private', 'w').write('x')\n"
        "open('inside.txt', 'w').write('x')\n"
        "print(res)\n")
    out = run_py(code, cand)
    text = out.output.decode()
    assert out.ok, text
    assert "noread ../secret.txt" in text  # /tmp outside the folder is hidden
    assert f"read {repo}/pyproject.toml" in text  # the rest is readable ...
    # nothing outside the folder is writable; /tmp and home are private, throw-away tmpfs
    assert f"nowrite {repo}/x_rewardsmith_jail_test" in text and "nowrite /usr/x" in text
    assert (cand / "inside.txt").exists() and not (tmp_path / "x.txt").exists()
    assert not Path(os.path.expanduser("~/x_rs")).exists()
    assert not (repo / "x_rewardsmith_jail_test").exists()
    assert not Path("/tmp/private").exists() or Path("/tmp/private").read_text() != "x"


def test_private_tmpfs_is_bounded(tmp_path):
    iso = jail.isolation()
    if not iso.filesystem_confined:
        pytest.skip(f"only under bubblewrap ({iso.mode})")
    limits = jail.Limits(cpu_s=20, address_space=jail.GiB, file_size=64 * jail.MiB,
                         tmp_size=8 * jail.MiB, gpu=False)
    code = ("import os\nn = 0\ntry:\n    for i in range(100):\n"
            "        open(f'/tmp/f{i}', 'wb').write(b'x' * 1024 * 1024)\n        n += 1\n"
            "except OSError as e:\n    print('full after', n, e.errno)\n")
    out = run_py(code, tmp_path, limits=limits)
    assert b"full after" in out.output, out.output


def test_netns_fallback_without_bubblewrap(tmp_path, forced_mode):
    iso = forced_mode("netns")
    if iso.mode != "netns":
        pytest.skip("no network namespace without bubblewrap here")
    assert iso.network_blocked and not iso.filesystem_confined
    srv = _listener()
    out = run_py(NET_CODE.format(port=srv.getsockname()[1]) + "open('f', 'w').write('x')\n",
                 tmp_path)
    assert out.ok, out.output
    assert b"blocked" in out.output and (tmp_path / "f").exists()
    assert (tmp_path / ".tmp").is_dir()  # scratch files stay in the folder
    srv.close()


def test_plain_fallback_still_limits_and_watches(tmp_path, forced_mode):
    iso = forced_mode("none")
    assert iso.mode == "none" and not iso.network_blocked
    out = run_py("import time\ntime.sleep(100)\n", tmp_path, wall_s=1.0)
    assert out.killed and "time limit" in out.reason
    out = run_py("b = bytearray(3 * 1024 ** 3)\n", tmp_path)
    assert b"MemoryError" in out.output


def test_isolation_is_detected_once():
    a = jail.isolation()
    assert jail.isolation() is a
    assert a.mode in ("bwrap", "netns", "none") and a.detail
