#!/usr/bin/env python
"""The wheels a GPU image without a package index lacks to run rewardsmith, in one folder.

The GPU machines this project borrows run Python 3.12 on manylinux x86_64 with JAX 0.11 and its
CUDA plugin, flax, optax, torch, tensorboard, typer and rich preinstalled (:data:`IMAGE`), and no
package index. On a machine that has one, this script downloads exactly the wheels such an
image lacks (:data:`WHEELS`, pinned; ``pip download --only-binary=:all: --python-version 3.12
--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 ... --no-deps``) and builds the rewardsmith wheel from this tree,
then checks the folder (every requirement of every wheel in it, for CPython 3.12 on Linux
x86_64, is met by a wheel in the folder or by the image) and prints its size. On the GPU
machine: ``pip install --no-index --no-deps <folder>/*.whl`` (docs/GPU.md).

    scripts/wheelhouse                      # into dist/wheelhouse
    scripts/wheelhouse --dest /tmp/wh --extra plots
    scripts/wheelhouse --have image-freeze.txt   # skip what `pip freeze` on the image lists
    scripts/wheelhouse --verify dist/wheelhouse  # check a folder again (no network)
    scripts/wheelhouse --check              # the list against the installed dependency tree
    scripts/wheelhouse --list               # the pinned list, one requirement a line

The platform tags run from ``manylinux1`` / ``manylinux2014`` up to ``manylinux_2_28``
(glibc 2.28), each given to pip: ``manylinux2014_x86_64`` alone misses mujoco-core 4 and other
recent binary wheels, which ship ``manylinux_2_27``/``2_28`` wheels only.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # pip's own copy: this script needs nothing beyond pip
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.12"
# glibc 2.28 and older; pip takes each tag as given (no implied older manylinux tags)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64")
LIMIT_MB = 60.0
# markers of the GPU image's interpreter
TARGET_ENV = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
              "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
              "implementation_name": "cpython", "platform_python_implementation": "CPython",
              "platform_release": "", "platform_version": "", "implementation_version": "3.12.3"}

# What the GPU image has: the preinstalled packages and what they depend on, by name (version
# where known). Requirements on these are taken as met.
IMAGE: dict[str, str | None] = {
    # preinstalled
    "jax": "0.11.2", "jaxlib": "0.11.2", "jax-cuda13-plugin": "0.11.2", "jax-cuda13-pjrt": "0.11.2",
    "flax": None, "optax": None, "torch": "2.11.0", "tensorboard": None, "typer": None, "rich": None,
    # jax, jaxlib
    "numpy": None, "scipy": None, "ml-dtypes": None, "opt-einsum": None,
    # flax, optax (orbax-checkpoint, chex, treescope, tensorstore, etils)
    "msgpack": None, "orbax-checkpoint": None, "tensorstore": None, "pyyaml": None,
    "treescope": None, "chex": None, "toolz": None, "absl-py": None, "etils": None,
    "humanize": None, "nest-asyncio": None, "protobuf": None, "simplejson": None, "aiofiles": None,
    "fsspec": None, "zipp": None, "importlib-resources": None, "psutil": None,
    "typing-extensions": None,
    # torch
    "filelock": None, "jinja2": None, "markupsafe": None, "networkx": None, "sympy": None,
    "mpmath": None, "setuptools": None, "triton": None,
    # tensorboard
    "grpcio": None, "markdown": None, "packaging": None, "pillow": None,
    "tensorboard-data-server": None, "werkzeug": None,
    # typer, rich
    "shellingham": None, "markdown-it-py": None, "mdurl": None, "pygments": None,
    "pydantic": None, "pydantic-core": None, "annotated-types": None, "typing-inspection": None,
    "annotated-doc": None,
}

# What it lacks, pinned to versions that install together for CPython 3.12 (resolved with the
# jax extra and JAX 0.11.2; brax needs rewardsmith.train.jax_compat there).
WHEELS: dict[str, str] = {
    # MuJoCo and MJX
    "mujoco": "4.0.0", "mujoco-core": "4.0.0", "glfw": "2.11.0", "pyopengl": "3.1.10",
    "mujoco-mjx": "3.17.0", "trimesh": "5.2.0",
    # brax and its small dependencies
    "brax": "0.14.2", "jaxopt": "0.8.5", "ml-collections": "1.1.0", "tensorboardx": "2.6.5",
    "flask": "3.1.3", "flask-cors": "6.0.5", "blinker": "1.9.0", "click": "8.5.1",
    "itsdangerous": "2.2.0",
    # the sb3 backend (torch is in the image)
    "gymnasium": "1.4.0", "cloudpickle": "3.1.3", "farama-notifications": "0.0.6",
    "stable-baselines3": "2.9.2",
    # the openai LLM backend
    "openai": "3.57.0", "anyio": "4.16.0", "httpx2": "2.16.2", "httpcore2": "2.16.2",
    "h11": "0.16.0", "idna": "3.20", "jiter": "0.19.0", "sniffio": "1.3.1", "truststore": "0.10.5",
    # videos (GIF through pillow)
    "imageio": "2.38.2",
}

# Left out unless asked for with --extra: rewardsmith works without them.
EXTRAS: dict[str, dict[str, str]] = {
    # report plots (report.py says "no plots" without matplotlib)
    "plots": {"matplotlib": "3.11.2", "contourpy": "1.4.0", "cycler": "0.12.1",
              "fonttools": "4.68.0", "kiwisolver": "1.5.1", "pyparsing": "3.3.3",
              "python-dateutil": "4.0.0", "tzdata": "2026.6"},
    # MP4 clips (68 MB: over one 64 MiB transfer on its own; GIFs need nothing)
    "mp4": {"imageio-ffmpeg": "0.8.1"},
}

# Required by something in the folder, deliberately absent: name -> why.
SKIPPED: dict[str, str] = {
    "mujoco-studio": "MuJoCo's interactive viewer app (13 MB); rewardsmith never imports it",
    "websockets": "needed by mujoco-studio only",
    **{name: "report plots: --extra plots" for name in EXTRAS["plots"]},
    "imageio-ffmpeg": "MP4 clips: --extra mp4",
    "rewardsmith": "",
}
OWN_EXTRAS = ("jax",)  # rewardsmith's extras the folder serves (plus "video" with --extra mp4)


def wanted(extras: list[str], have: dict[str, str | None] | None = None) -> dict[str, str]:
    """``{name: version}`` to download: :data:`WHEELS`, the extras, less what ``have`` lists."""
    out = dict(WHEELS)
    for e in extras:
        out.update(EXTRAS[e])
    return {k: v for k, v in sorted(out.items()) if not have or k not in have}


def parse_freeze(text: str) -> dict[str, str | None]:
    """``pip freeze`` / ``pip list --format=freeze`` output: ``{name: version or None}``."""
    out: dict[str, str | None] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"([A-Za-z0-9._-]+)\s*(?:\[[^\]]*\])?\s*(?:(?:==|===)\s*([^\s;]+)|@.*)?", line)
        if m:
            out[canonicalize_name(m.group(1))] = m.group(2)
    return out


def _active(req: Requirement, extras: tuple[str, ...] = ()) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**TARGET_ENV, "extra": e}) for e in (extras or ("",)))


# ------------------------------------------------------------------------ the folder
def wheel_metadata(path: Path) -> tuple[str, str, list[str]]:
    """``(name, version, Requires-Dist lines)`` from a wheel file."""
    with zipfile.ZipFile(path) as z:
        meta = next(n for n in z.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        msg = Parser().parsestr(z.read(meta).decode("utf-8", "replace"))
    return (canonicalize_name(msg["Name"]), msg["Version"], msg.get_all("Requires-Dist") or [])


def verify(folder: Path, image: dict[str, str | None] | None = None,
           own_extras: tuple[str, ...] = OWN_EXTRAS) -> list[str]:
    """Problems with a wheel folder for the image: every requirement of every wheel in it
    (rewardsmith's with ``own_extras``) met by a wheel in it, the image, or :data:`SKIPPED`."""
    image = IMAGE if image is None else image
    wheels = {}
    problems = []
    for p in sorted(folder.glob("*.whl")):
        name, version, reqs = wheel_metadata(p)
        if name in wheels:
            problems.append(f"{name}: two wheels ({wheels[name][0]} and {version})")
        wheels[name] = (version, reqs)
    if "rewardsmith" not in wheels:
        problems.append("rewardsmith: its own wheel is missing")
    for name, (_, reqs) in sorted(wheels.items()):
        extras = own_extras if name == "rewardsmith" else ()
        for line in reqs:
            req = Requirement(line)
            if not _active(req, extras):
                continue
            dep = canonicalize_name(req.name)
            if dep == "rewardsmith":
                continue  # its own extras, listed flat
            if dep in wheels:
                have = wheels[dep][0]
            elif dep in image:
                have = image[dep]
            elif dep in SKIPPED:
                continue
            else:
                problems.append(f"{dep}: needed by {name} ({line}) but neither in the folder nor "
                                "in the image")
                continue
            if have is not None and req.specifier and not req.specifier.contains(
                    Version(have), prereleases=True):
                problems.append(f"{dep} {have} does not meet {name}'s requirement {line}")
    return problems


# --------------------------------------------------------------- the installed tree
def own_requirements(extras: tuple[str, ...]) -> list[str]:
    """rewardsmith's requirements with ``extras``, from pyproject.toml (the installed metadata
    of an editable install is as old as its last ``pip install``)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: the installed metadata
        from importlib import metadata

        return [r for r in metadata.requires("rewardsmith") or []
                if _active(Requirement(r), extras)]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out = list(project.get("dependencies", []))
    todo, done = list(extras), set()
    while todo:
        e = todo.pop()
        if e in done:
            continue
        done.add(e)
        for line in project.get("optional-dependencies", {}).get(e, []):
            req = Requirement(line)
            if canonicalize_name(req.name) == "rewardsmith":
                todo.extend(req.extras)
            else:
                out.append(line)
    return out


def check_installed(extras: list[str]) -> tuple[list[str], list[str]]:
    """The recorded list against the dependency tree of the installed ``rewardsmith[jax]``
    (no network): ``(problems, notes)``. Walks the installed packages' metadata with the
    image's markers, below packages installed at the listed version only (another version may
    need other things); a package the walk reaches must be listed, in the image or skipped,
    and every listed version must meet the requirements on it."""
    from importlib import metadata

    listed = wanted(extras)
    problems: list[str] = []
    notes: list[str] = []
    reached: set[str] = set()
    own = tuple(OWN_EXTRAS) + (("video",) if "mp4" in extras else ())
    todo = [("rewardsmith", own, "the check")]
    seen = set()
    while todo:
        name, xs, parent = todo.pop()
        if (name, xs) in seen:
            continue
        seen.add((name, xs))
        if name == "rewardsmith":
            requires = own_requirements(xs)
        else:
            try:
                dist = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                notes.append(f"{name} (needed by {parent}) is not installed here: not checked "
                             "below it")
                continue
            if name in listed and dist.version != listed[name]:
                notes.append(f"{name}: {dist.version} installed here, {listed[name]} listed: "
                             "not checked below it")
                continue
            requires = dist.requires or []
        for line in requires:
            req = Requirement(line)
            if not _active(req, xs):
                continue
            dep = canonicalize_name(req.name)
            if dep == "rewardsmith":
                continue
            reached.add(dep)
            if dep in listed:
                if req.specifier and not req.specifier.contains(Version(listed[dep]),
                                                                prereleases=True):
                    problems.append(f"{dep}=={listed[dep]} does not meet {name}'s {line}")
            elif dep in IMAGE or dep in SKIPPED:
                if dep in IMAGE and IMAGE[dep] and req.specifier and not req.specifier.contains(
                        Version(IMAGE[dep]), prereleases=True):
                    problems.append(f"the image's {dep} {IMAGE[dep]} does not meet {name}'s {line}")
                continue
            else:
                problems.append(f"{dep} (needed by {name}: {line}) is neither listed nor in "
                                "the image")
                continue
            todo.append((dep, tuple(sorted(req.extras)), name))
    unreached = sorted(set(listed) - reached)
    if unreached:
        msg = f"listed but nothing reached needs them: {', '.join(unreached)}"
        (notes if any("not checked below" in n for n in notes) else problems).append(msg)
    return problems, notes


# ------------------------------------------------------------------------ download
def download(dest: Path, extras: list[str], have: dict[str, str | None] | None,
             build_own: bool = True) -> list[str]:
    """Fill ``dest`` (emptied of wheels first); returns :func:`verify`'s problems."""
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"):
        old.unlink()
    pins = wanted(extras, have)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("".join(f"{k}=={v}\n" for k, v in pins.items()))
        reqs = f.name
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "--python-version", PYTHON_VERSION,
                        *[a for p in PLATFORMS for a in ("--platform", p)],
                        "--dest", str(dest), "-r", reqs], check=True)
    finally:
        os.unlink(reqs)
    if build_own:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--wheel-dir", str(dest), str(ROOT)], check=True)
    image = {**IMAGE, **(have or {})}
    own = OWN_EXTRAS + (("video",) if "mp4" in extras else ())
    return verify(dest, image, own) if build_own else []


def sizes(folder: Path) -> list[tuple[str, int]]:
    return sorted(((p.name, p.stat().st_size) for p in folder.glob("*.whl")),
                  key=lambda x: -x[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", type=Path, default=ROOT / "dist" / "wheelhouse")
    ap.add_argument("--extra", action="append", default=[], choices=sorted(EXTRAS),
                    help="also the wheels for report plots or MP4 clips")
    ap.add_argument("--have", type=Path,
                    help="`pip freeze` of the GPU image: what it lists is not downloaded")
    ap.add_argument("--list", action="store_true", help="print the pinned list and stop")
    ap.add_argument("--check", action="store_true",
                    help="check the list against the installed dependency tree and stop")
    ap.add_argument("--verify", type=Path, metavar="FOLDER", help="check a wheel folder and stop")
    args = ap.parse_args(argv)
    have = parse_freeze(args.have.read_text()) if args.have else None

    if args.list:
        print("\n".join(f"{k}=={v}" for k, v in wanted(args.extra, have).items()))
        return 0
    if args.check:
        problems, notes = check_installed(args.extra)
        for n in notes:
            print(f"note: {n}")
        for p in problems:
            print(f"problem: {p}")
        print("wheel list: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
        return 1 if problems else 0
    if args.verify:
        folder = args.verify
        problems = verify(folder, {**IMAGE, **(have or {})})
    else:
        folder = args.dest
        problems = download(folder, args.extra, have)
    rows = sizes(folder)
    total = sum(s for _, s in rows)
    for name, s in rows:
        print(f"{s / 1e6:8.2f} MB  {name}")
    for p in problems:
        print(f"problem: {p}")
    print(f"wheelhouse: {len(rows)} wheels, {total / 1e6:.1f} MB in {folder}"
          + ("" if total / 1e6 < LIMIT_MB else f" (over {LIMIT_MB:g} MB)"))
    if not args.verify:
        print(f"on the GPU machine: pip install --no-index --no-deps {folder.name}/*.whl "
              "(see docs/GPU.md)")
    return 1 if problems or total / 1e6 >= LIMIT_MB else 0


if __name__ == "__main__":
    sys.exit(main())
