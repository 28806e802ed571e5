"""Compare a new method against the shipped runs without retraining them (config `reference: shipped`).

The committed per-episode results of the reference methods (results/<budget>/runs/) join the report
only where their result files are those their digest recorded when they finished, and where they
are comparable with this run's: the same budget, the same evaluation protocol
(episodes, first evaluation seed, env kwargs), and, once the data stage has run, the same dataset
bytes (each run.json records its dataset files' sha256, as the data summary records the new ones').
Anything else is one line naming the run and what differs.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from analysis.loading import COMPLETENESS_MARKER
from dbc_bench.errors import BenchError
from dbc_bench.io import DIGEST_FILE, check_digest, read_json

# The run.json fields that define a run's evaluation protocol and budget.
PROTOCOL_FIELDS = ("budget", "eval_episodes", "eval_seed_first", "eval_env_kwargs")


def check_shipped_runs(run_dirs: Iterable[str | os.PathLike], protocol: Mapping[str, Mapping],
                       datasets: Mapping[str, Mapping] | None = None) -> list[Path]:
    """The run directories, each checked against `protocol[task]` (PROTOCOL_FIELDS) and, if given,
    `datasets[task]` (the data summary's file hashes); returns them as paths."""
    checked = []
    for run_dir in map(Path, run_dirs):
        where = str(run_dir)
        if not (run_dir / COMPLETENESS_MARKER).is_file():
            raise BenchError(f"{where}: no shipped run here ({COMPLETENESS_MARKER} missing); add its method to "
                             f"`methods` to train it, or leave it out of `reference_methods`")
        if not (run_dir / DIGEST_FILE).is_file():
            raise BenchError(f"{where}: {DIGEST_FILE} missing, so its result files cannot be checked; rerun it")
        check_digest(run_dir)
        meta = read_json(run_dir / "run.json")
        task = meta.get("task")
        if task not in protocol:
            raise BenchError(f"{where}: run.json names task {task!r}, not one of this run's tasks")
        differ = [f"{name} {meta.get(name)!r} (this run: {protocol[task][name]!r})"
                  for name in PROTOCOL_FIELDS if meta.get(name) != protocol[task][name]]
        if datasets is not None and meta.get("dataset_sha256") != datasets[task]:
            differ.append("dataset (its files' sha256 differ from this run's data stage)")
        if differ:
            raise BenchError(f"{where} is not comparable: {'; '.join(differ)}")
        checked.append(run_dir)
    return checked
