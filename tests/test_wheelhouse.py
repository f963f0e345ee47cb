"""scripts/wheelhouse: the wheels a GPU image (Python 3.12, manylinux x86_64, JAX 0.11, flax,
optax, torch, tensorboard, typer, rich; no package index) lacks to run rewardsmith.

Fast: the recorded list against the installed dependency tree, and the folder check on small
made-up wheels. Slow: the real ``pip download`` for CPython 3.12 manylinux x86_64 plus the
rewardsmith wheel, checked, under 60 MB."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wh():
    spec = importlib.util.spec_from_file_location("wheelhouse", ROOT / "scripts" / "wheelhouse.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_lists_are_disjoint_and_pinned(wh):
    lists = [set(wh.WHEELS), *(set(e) for e in wh.EXTRAS.values())]
    for i, a in enumerate(lists):
        assert not a & set(wh.IMAGE), a & set(wh.IMAGE)
        for b in lists[i + 1:]:
            assert not a & b
    assert not set(wh.WHEELS) & set(wh.SKIPPED)
    for pins in (wh.WHEELS, *wh.EXTRAS.values()):
        for name, version in pins.items():
            assert name == wh.canonicalize_name(name) and wh.Version(version)


def test_every_dependency_is_listed_in_the_image_or_left_out_on_purpose(wh):
    """The walk needs the installed packages' metadata: the jax extra, for brax and MJX."""
    if importlib.util.find_spec("brax") is None:
        pytest.skip("the jax extra is not installed (brax's dependencies cannot be walked)")
    problems, notes = wh.check_installed([])
    assert problems == [], (problems, notes)
    problems, notes = wh.check_installed(["plots", "mp4"])
    assert problems == [], (problems, notes)


def test_have_file_leaves_out_what_the_image_already_has(wh):
    have = wh.parse_freeze("click==8.1.7\nTqdm==4.66.1\n# comment\n-e git+https://x#egg=y\n"
                           "torch @ file:///wheels/torch.whl\n")
    assert have == {"click": "8.1.7", "tqdm": "4.66.1", "torch": None}
    names = wh.wanted([], have)
    assert "click" not in names and "tqdm" not in names and "brax" in names
    assert "matplotlib" in wh.wanted(["plots"]) and "matplotlib" not in wh.wanted([])


def _wheel(folder: Path, name: str, version: str, requires: list[str]) -> None:
    dist = f"{name.replace('-', '_')}-{version}"
    meta = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                    *(f"Requires-Dist: {r}\n" for r in requires)])
    with zipfile.ZipFile(folder / f"{dist}-py3-none-any.whl", "w") as z:
        z.writestr(f"{dist}.dist-info/METADATA", meta)


def test_verify_finds_what_is_missing_or_too_old(wh, tmp_path):
    _wheel(tmp_path, "rewardsmith", "0.1.0",
           ["numpy>=1.26", "gymnasium<2,>=1.0", "brax==0.14.2; extra == 'jax'",
            "pytest>=8; extra == 'dev'", "colorama; sys_platform == 'win32'"])
    _wheel(tmp_path, "gymnasium", "1.4.0", ["numpy>=1.22", "cloudpickle>=1.2"])
    _wheel(tmp_path, "brax", "0.14.2", ["jax>=0.4.6", "jaxopt", "mujoco-studio"])
    _wheel(tmp_path, "cloudpickle", "1.0", [])
    problems = wh.verify(tmp_path)
    assert any(p.startswith("jaxopt: needed by brax") for p in problems), problems
    assert any(p.startswith("cloudpickle 1.0 does not meet gymnasium") for p in problems)
    assert len(problems) == 2, problems  # numpy and jax: the image; mujoco-studio: skipped
    _wheel(tmp_path, "jaxopt", "0.8.5", [])
    (tmp_path / "cloudpickle-1.0-py3-none-any.whl").unlink()
    _wheel(tmp_path, "cloudpickle", "3.1.3", [])
    assert wh.verify(tmp_path) == []
    (tmp_path / "rewardsmith-0.1.0-py3-none-any.whl").unlink()
    assert wh.verify(tmp_path) == ["rewardsmith: its own wheel is missing"]


@pytest.mark.slow
def test_real_download_for_python_312_manylinux_is_complete_and_small(tmp_path):
    """Needs the package index: pip download of the pinned list for CPython 3.12 on manylinux
    x86_64, the rewardsmith wheel built from this tree, every requirement met."""
    dest = tmp_path / "wheelhouse"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "wheelhouse.py"), "--dest",
                        str(dest)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "problem" not in r.stdout
    wheels = sorted(p.name for p in dest.glob("*.whl"))
    names = {n.split("-")[0].lower().replace("_", "-") for n in wheels}
    assert {"rewardsmith", "brax", "mujoco-mjx", "mujoco", "gymnasium", "stable-baselines3",
            "openai", "imageio"} <= names
    total_mb = sum(p.stat().st_size for p in dest.glob("*.whl")) / 1e6
    assert total_mb < 60, total_mb
    assert f"{total_mb:.1f} MB" in r.stdout
