"""Where a result came from: the code's commit, the package versions and the machine."""
from __future__ import annotations

import platform
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
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    written = (":!results", ":!paper", ":!envs/demonstrations")  # what the pipeline itself writes
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", *written) if commit else None
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def record() -> dict:
    """The provenance block of run.json files and dataset cards (kernels.settings() is recorded
    beside it: unlike these, it decides a result's bits)."""
    return {**git_state(), "versions": versions(), "cpu": cpu_name()}
