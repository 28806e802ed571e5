"""Where a result came from: the code's commit, the package versions and the machine."""
from __future__ import annotations

import platform
import re
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The packages whose versions can change a result's numbers.
PACKAGES = ("torch", "numpy", "mujoco", "gymnasium", "gymnasium-robotics", "minari", "stable-baselines3",
            "diffusers", "h5py")


def cpu_name() -> str:
    """The CPU's model name and logical CPU count (Linux), else what the platform module says."""
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        if names:
            return f"{names[0]} x {len(names)} logical CPUs"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    out = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def git_state() -> dict:
    """The checkout's commit and whether its tracked code and config differ from it (what the pipeline
    itself writes does not count); None outside a git checkout."""
    commit = _git("rev-parse", "HEAD")
    written = (":!results", ":!paper", ":!envs/demonstrations")  # what the pipeline itself writes
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *written) if commit else None
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_permalink(relative: str) -> str | None:
    """A link to `relative` (a path in this repository) at this checkout's commit, on the web host of its
    `origin` remote (https://host/owner/repo/blob/<commit>/<path>); None when the origin is not a web
    host (none, or a local path) or the tree has no commit."""
    origin, commit = _git("remote", "get-url", "origin"), _git("rev-parse", "HEAD")
    if not origin or not commit:
        return None
    scp = re.fullmatch(r"git@([^:/]+):(.+)", origin)  # git@github.com:owner/repo.git
    url = f"https://{scp[1]}/{scp[2]}" if scp else origin
    if not re.fullmatch(r"https?://[^/\s]+/\S+", url):
        return None
    url = re.sub(r"^(https?://)[^@/]+@", r"\1", url)  # never a token
    return f"{url.removesuffix('/').removesuffix('.git')}/blob/{commit}/{relative}"


def record() -> dict:
    """The provenance block of run.json files and dataset cards (kernels.settings() is recorded
    beside it: unlike these, it decides a result's bits)."""
    return {**git_state(), "versions": versions(), "cpu": cpu_name()}
