"""Optional experiment tracking: a run's training log and evaluations as TensorBoard event files (config
`tracking: tensorboard`; off by default; local files, no account, no network).

While a run trains, each log row and each evaluation is written as it happens (`Live`), so
`tensorboard --logdir results/<budget>/runs` shows a run while it runs. When it ends, the events are
rewritten from the run's own files (`mirror`: train_log.csv, eval_curve.csv, resumed parts included),
so tracking never changes what a run computes, and a run finished with tracking off gains them later with
    python -m dbc_bench.tracking results/default/runs
View them with `tensorboard --logdir results/default/runs`. The event files go to <run>/tensorboard/.
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from dbc_bench.errors import BenchError

TRACKERS = ("none", "tensorboard")
# The Snakefile hands the config key to every job through this variable, outside the job's command,
# so switching tracking on reruns nothing.
VARIABLE = "DBC_TRACKING"
# A log row's x-axis: offline methods count updates, GAIL environment steps.
STEP_COLUMNS = ("update", "env_steps")
EVALUATION_COLUMNS = ("success", "return", "length")


def selected() -> str:
    kind = os.environ.get(VARIABLE, "none") or "none"  # never on the command line: switching reruns nothing
    if kind not in TRACKERS:
        raise BenchError(f"{VARIABLE}={kind!r}: choose from {', '.join(TRACKERS)}")
    return kind


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _train_scalars(row: dict, units: int | None = None):
    """(tag, value, step) of a training-log row: every number but its step column, at that step."""
    step_column = next((c for c in STEP_COLUMNS if c in row), None)
    step = int(float(row[step_column])) if step_column else units
    for key, text in row.items():
        value = _number(text)
        if key != step_column and value is not None:
            yield f"train/{key}", value, step


def _eval_scalars(rows: list[dict], update: int):
    """(tag, value, step) of one evaluation: the mean success, return and length of its episodes."""
    for key in EVALUATION_COLUMNS:
        values = [_number(r[key]) for r in rows if key in r]
        values = [v for v in values if v is not None]
        if values:
            yield f"eval/{key}", sum(values) / len(values), update


class Live:
    """An `observe` for methods.train.run_training: writes each row and evaluation as it comes, flushed,
    into <run_dir>/tensorboard/ (the mirror replaces them when the run ends)."""

    def __init__(self, run_dir: str | os.PathLike):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def __call__(self, kind: str, units: int, data) -> None:
        scalars = _train_scalars(data, units) if kind == "train" else _eval_scalars(data, units)
        for tag, value, step in scalars:
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def mirror(run_dir: str | os.PathLike) -> Path:
    """Write <run_dir>/tensorboard/ from train_log.csv (scalars under train/) and eval_curve.csv (the
    mean success, return and length of each evaluation, under eval/); replaces an earlier mirror."""
    from torch.utils.tensorboard import SummaryWriter

    run_dir = Path(run_dir)
    for name in ("train_log.csv", "eval_curve.csv"):
        if not (run_dir / name).is_file():
            raise BenchError(f"{run_dir}: no {name}; only a finished run can be mirrored")
    out = run_dir / "tensorboard"
    shutil.rmtree(out, ignore_errors=True)
    with SummaryWriter(log_dir=str(out)) as writer:
        for row in _rows(run_dir / "train_log.csv"):
            for tag, value, step in _train_scalars(row):
                writer.add_scalar(tag, value, step)
        by_update: dict[int, list[dict]] = defaultdict(list)
        for row in _rows(run_dir / "eval_curve.csv"):
            by_update[int(float(row["update"]))].append(row)
        for update, rows in sorted(by_update.items()):
            for tag, value, step in _eval_scalars(rows, update):
                writer.add_scalar(tag, value, step)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Mirror finished runs to TensorBoard event files.")
    p.add_argument("roots", nargs="+", type=Path, help="run directories, or folders holding them")
    args = p.parse_args(argv)
    runs = sorted({path.parent for root in args.roots for path in root.rglob("eval_final.csv")})
    if not runs:
        print(f"error: no finished runs (eval_final.csv) under {', '.join(map(str, args.roots))}", file=sys.stderr)
        return 1
    try:
        for run in runs:
            print(mirror(run))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
