"""Peak memory of one suite trainer, measured in a fresh process so that nothing the benchmark
did before (other methods, larger tensors) counts against it.

    python -m benchmarks.memory TASK METHOD [--tiny]   prints the peak RSS in MB
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from dbc_bench.errors import BenchError

ROOT = Path(__file__).resolve().parents[1]


def peak_memory_mb(task: str, method: str, tiny: bool) -> float:
    """Peak RSS of a fresh process that builds the method at the benchmark's sizes and trains it
    for one epoch."""
    # The repository first on the path, so the child imports this checkout even when it is not installed.
    search = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))  # this checkout first
    env = {**os.environ, "PYTHONPATH": search}  # the subprocess imports this checkout's packages
    cmd = [sys.executable, "-m", "benchmarks.memory", task, method] + (["--tiny"] if tiny else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"memory probe {task}/{method} failed: {last}")
    return float(out.stdout.strip().splitlines()[-1])


def probe(task: str, method: str, tiny: bool) -> float:
    import torch

    from benchmarks import trainers

    torch.set_num_threads(1)
    su = trainers.setup(task, method, tiny)
    with tempfile.TemporaryDirectory() as tmp:
        trainers.suite_rate(su, trainers.random_demos(su.obs_dim, su.act_dim, su.transitions), 1, Path(tmp))
    # VmHWM belongs to this process image; getrusage's ru_maxrss would also count the parent's
    # pages at fork time, which survive exec.
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    print(probe(sys.argv[1], sys.argv[2], "--tiny" in sys.argv[3:]))
