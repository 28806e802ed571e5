"""Result files -> tables: the task references, the paper's numbers, and one row per run.

Inputs are the run directories `<runs_root>/<task>/<method>/seed<k>/` (run.json, eval_final.csv,
eval_curve.csv) and one reference JSON per task. Score columns of the per-run table:
  final_raw / final_norm  mean over the episodes of eval_final.csv (success rate in [0, 1] or
                          mean return), and its normalised value;
  best_raw / best_norm    the best evaluation during training: max over `update` of the
                          per-update mean in eval_curve.csv. It is selected on the evaluation
                          episodes themselves, so it is optimistic; it never feeds the headline
                          (final) table or aggregates.csv.
and what a report checks runs of one table against each other with: `dataset` (a digest of the
dataset files' sha256) and `versions` (the package versions), both from run.json.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.labels import Registry
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json, read_yaml

METRICS = ("success", "return")
SCORE_KINDS = ("final", "best")
RUN_COLUMNS = [
    "task", "method", "seed", "budget", "metric",
    "final_raw", "final_norm", "final_episodes",
    "best_raw", "best_norm", "best_update", "last_update", "transitions",
    "dataset", "versions", "run_dir", "dm_active",
]
# Written last by a run's evaluation: a run directory without it is unfinished.
COMPLETENESS_MARKER = "eval_final.csv"


def normalise(raw: float, metric: str, ref_min: float | None = None,
              ref_max: float | None = None, task: str | None = None) -> float:
    """Normalised score: the success rate itself, or (raw - min) / (max - min) for returns."""
    name = task if task is not None else "<unnamed>"
    if metric == "success":
        return float(raw)
    if metric != "return":
        raise BenchError(f"task '{name}': unknown metric '{metric}' (expected one of {METRICS})")
    if ref_min is None or ref_max is None:
        raise BenchError(f"task '{name}': a return task needs ref_min_score and ref_max_score")
    lo, hi = float(ref_min), float(ref_max)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise BenchError(f"task '{name}': reference scores must be finite (min={lo}, max={hi})")
    if hi <= lo:
        raise BenchError(
            f"task '{name}': ref_max_score ({hi}) must be greater than ref_min_score ({lo})")
    return (float(raw) - lo) / (hi - lo)


def finite_number(value, path: str | os.PathLike, field: str) -> float:
    """`value` as a finite float, or a BenchError naming the file and field."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise BenchError(f"{path}: field '{field}' is not a number ({value!r})") from None
    if not math.isfinite(out):
        raise BenchError(f"{path}: field '{field}' is not finite ({value!r})")
    return out


def load_reference(path: str | os.PathLike) -> dict:
    """Read one task reference JSON; returns {task, metric, ref_min_score, ref_max_score, path}."""
    path = Path(path)
    data = read_json(path)
    for key in ("task", "metric"):
        if key not in data:
            raise BenchError(f"{path}: missing field '{key}'")
    task, metric = str(data["task"]), str(data["metric"])
    if metric not in METRICS:
        raise BenchError(f"{path}: field 'metric' is '{metric}', expected one of {METRICS}")
    ref = {"task": task, "metric": metric, "ref_min_score": None, "ref_max_score": None,
           "path": str(path)}
    if metric == "return":
        for key in ("ref_min_score", "ref_max_score"):
            if key not in data:
                raise BenchError(f"{path}: missing field '{key}' (needed for return task '{task}')")
            ref[key] = finite_number(data[key], path, key)
        try:
            normalise(0.0, metric, ref["ref_min_score"], ref["ref_max_score"], task=task)
        except BenchError as exc:
            raise BenchError(f"{path}: {exc}") from None
    return ref


def load_references(paths: Iterable[str | os.PathLike]) -> dict[str, dict]:
    """Task name -> reference, from several reference files (one task each)."""
    refs: dict[str, dict] = {}
    for p in paths:
        ref = load_reference(p)
        if ref["task"] in refs:
            raise BenchError(
                f"{p}: task '{ref['task']}' already defined by {refs[ref['task']]['path']}")
        refs[ref["task"]] = ref
    if not refs:
        raise BenchError("no task reference files given")
    return refs


def load_paper_results(path: str | os.PathLike) -> dict[tuple[str, str], tuple[float, float]]:
    """(method, task) -> (mean, std) of the paper's main table, in the paper's units
    (success in %, return raw)."""
    table = read_yaml(path).get("main_table")
    if not isinstance(table, dict):
        raise BenchError(f"{path}: missing mapping 'main_table'")
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for method, tasks in table.items():
        if not isinstance(tasks, dict):
            raise BenchError(f"{path}: main_table.{method} must map tasks to {{mean, std}}")
        for task, cell in tasks.items():
            field = f"main_table.{method}.{task}"
            if not isinstance(cell, dict) or "mean" not in cell or "std" not in cell:
                raise BenchError(f"{path}: field '{field}' needs 'mean' and 'std'")
            out[(str(method), str(task))] = (finite_number(cell["mean"], path, field + ".mean"),
                                             finite_number(cell["std"], path, field + ".std"))
    return out


def read_csv(path: str | os.PathLike, required: Sequence[str]) -> pd.DataFrame:
    """A CSV file with at least one row and the `required` columns."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise BenchError(f"{path}: file is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise BenchError(f"{path}: cannot parse CSV ({' '.join(str(exc).split())})") from None
    for col in required:
        if col not in frame.columns:
            raise BenchError(f"{path}: missing column '{col}'")
    if len(frame) == 0:
        raise BenchError(f"{path}: no rows")
    return frame


def _numeric(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise BenchError(
            f"{path}: column '{col}' has a missing, NaN or non-numeric value "
            f"(data row {row + 1}: {frame[col].iloc[row]!r})")
    return values


def episode_scores(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = _numeric(frame, col, path)
    if col == "success" and ((values < 0) | (values > 1)).any():
        raise BenchError(f"{path}: column 'success' must be 0 or 1")
    return values


def load_curve(run_dir: str | os.PathLike, metric: str) -> pd.Series:
    """A run's evaluations during training (eval_curve.csv): mean `metric` per update, by update."""
    path = Path(run_dir) / "eval_curve.csv"
    frame = read_csv(path, ["update", metric])
    updates = _numeric(frame, "update", path)
    return pd.Series(episode_scores(frame, metric, path)).groupby(updates).mean().sort_index()


def _whole(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def load_run(run_dir: str | os.PathLike, references: Mapping[str, dict]) -> dict:
    """One run directory -> one row of the per-run table (see RUN_COLUMNS)."""
    run_dir = Path(run_dir)
    final_path = run_dir / COMPLETENESS_MARKER
    if not final_path.is_file():
        raise BenchError(f"{final_path}: not found; the run is unfinished, so it cannot be reported")
    meta_path = run_dir / "run.json"
    meta = read_json(meta_path)
    for key in ("task", "method", "seed"):
        if key not in meta:
            raise BenchError(f"{meta_path}: missing field '{key}'")
    task, method = str(meta["task"]), str(meta["method"])
    try:
        seed = int(meta["seed"])
    except (TypeError, ValueError):
        raise BenchError(f"{meta_path}: field 'seed' is not an integer ({meta['seed']!r})") from None
    # A run filed under the wrong directory would silently land in the wrong table cell.
    expected = (task, method, f"seed{seed}")
    found = (run_dir.parent.parent.name, run_dir.parent.name, run_dir.name)
    if expected != found:
        raise BenchError(
            f"{meta_path}: task/method/seed {expected} do not match its directory {'/'.join(found)}")
    if task not in references:
        raise BenchError(f"{meta_path}: task '{task}' has no reference file among the references given")
    ref = references[task]
    metric = ref["metric"]
    budget = meta.get("budget")
    budget = "" if budget is None else str(budget)

    final = episode_scores(read_csv(final_path, [metric]), metric, final_path)
    per_update = load_curve(run_dir, metric)
    final_raw = float(final.mean())
    best_raw = float(per_update.max())

    def norm(x: float) -> float:
        return normalise(x, metric, ref["ref_min_score"], ref["ref_max_score"], task=task)

    return {
        "task": task, "method": method, "seed": seed, "budget": budget, "metric": metric,
        "final_raw": final_raw, "final_norm": norm(final_raw), "final_episodes": int(final.size),
        "best_raw": best_raw, "best_norm": norm(best_raw),
        "best_update": _whole(per_update.idxmax()), "last_update": _whole(per_update.index[-1]),
        "transitions": meta.get("transitions"), "dataset": dataset_digest(meta.get("dataset_sha256")),
        "versions": versions_text((meta.get("provenance") or {}).get("versions")), "run_dir": str(run_dir),
        # DBC-family runs: the share of training updates in which the diffusion-model term was above 0
        # (NaN for other methods, and for runs made before it was recorded).
        "dm_active": float((meta.get("dm_term") or {}).get("active_fraction", math.nan)),
    }


def dataset_digest(file_hashes: dict | None) -> str:
    """12 hex digits identifying the dataset a run trained on (its files' sha256); '' if not recorded."""
    if not file_hashes:
        return ""
    return hashlib.sha256(json.dumps(file_hashes, sort_keys=True).encode()).hexdigest()[:12]


def versions_text(versions: dict | None) -> str:
    """'numpy=2.3.1 torch=2.13.0 ...': the package versions a run recorded; '' if not recorded."""
    return " ".join(f"{name}={value}" for name, value in sorted((versions or {}).items()))


def load_runs(run_dirs: Iterable[str | os.PathLike], references: Mapping[str, dict],
              registry: Registry = Registry(), budget: str | None = None) -> pd.DataFrame:
    """The given run directories (<task>/<method>/seed<k>) as a tidy table, one row per run,
    sorted task/method/seed (see sort_runs). The pipeline passes exactly the runs its config asks
    for, so stale runs of an earlier config never leak into a report.

    `budget` keeps only runs whose run.json budget equals it; without it, runs of several
    budgets are an error (they must not be pooled).
    """
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise BenchError("no run directories given")
    for d in run_dirs:
        if not d.is_dir():
            raise BenchError(f"{d}: run directory not found")
    root = Path(os.path.commonpath([str(d) for d in run_dirs]))
    df = pd.DataFrame([load_run(d, references) for d in run_dirs], columns=RUN_COLUMNS)
    if budget is not None:
        df = df[df["budget"] == str(budget)]
        if df.empty:
            raise BenchError(f"{root}: no runs with budget '{budget}'")
    budgets = sorted(df["budget"].unique())
    if len(budgets) > 1:
        raise BenchError(f"{root}: runs mix budgets {budgets}; select one with --budget")
    dup = df.duplicated(["task", "method", "seed"], keep=False)
    if dup.any():
        raise BenchError(f"{root}: duplicate runs {sorted(df.loc[dup, 'run_dir'])}")
    return sort_runs(df, registry)


def sort_runs(df: pd.DataFrame, registry: Registry = Registry()) -> pd.DataFrame:
    """Rows in report order: tasks, then methods in the registry's order (others alphabetically
    after them), then seeds."""
    t_rank = {t: i for i, t in enumerate(registry.order_tasks(df["task"].unique()))}
    m_rank = {m: i for i, m in enumerate(registry.order_methods(df["method"].unique()))}
    key = pd.DataFrame({"t": df["task"].map(t_rank), "m": df["method"].map(m_rank),
                        "s": df["seed"]})
    return df.loc[key.sort_values(["t", "m", "s"]).index].reset_index(drop=True)


def load_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """The evaluation curves of the runs in the per-run table, one row per run and evaluation:
    task, method, seed, point (0, 1, ...), update, fraction (update / the run's last update, so
    methods counting updates and env steps share an axis) and raw score (success in [0, 1] or
    return)."""
    rows = []
    for run in runs.itertuples():
        curve = load_curve(run.run_dir, run.metric)
        last = float(curve.index[-1])
        for point, (update, raw) in enumerate(curve.items()):
            rows.append({"task": run.task, "method": run.method, "seed": run.seed, "point": point,
                         "update": update, "fraction": float(update) / last if last > 0 else 1.0,
                         "raw": float(raw)})
    return pd.DataFrame(rows, columns=["task", "method", "seed", "point", "update", "fraction", "raw"])
