"""Statistics, tables and figures for the DBC-Bench report stage.

Inputs are the run directories `<runs_root>/<task>/<method>/seed<k>/` (run.json, eval_final.csv,
eval_curve.csv) and one reference JSON per task. Everything here is a plain function so that
make_report.py stays a thin command line wrapper and the pieces can be tested on tiny fake runs.

Score columns in the per-run table:
  final_raw / final_norm  mean over the episodes of eval_final.csv (success rate in [0, 1] or
                          mean return), and its normalised value;
  best_raw / best_norm    the best evaluation during training: max over `update` of the
                          per-update mean in eval_curve.csv. It is selected on the evaluation
                          episodes themselves, so it is optimistic; it never feeds the headline
                          (final) table or aggregates.csv.

Bootstrap reproducibility: rliable 1.2.0 ignores its `random_state` argument and draws from
numpy's global generator, so every rliable call below is preceded by `np.random.seed(seed)` (and
the caller's global state is restored afterwards). Each method gets its own call with the same
seed, so a method's interval does not change when other methods are added to or removed from
the report.

Unequal seed counts: rliable's stratified bootstrap needs one (n_seeds, n_tasks) matrix per
method. By default (`on_unequal="error"`) a method whose seed count differs between tasks, or
that lacks a task, raises ReportError naming the counts. With `on_unequal="common"` the method's
matrix keeps only the seeds present on every task, and a method missing a task entirely is left
out of the aggregates (it stays in the per-task tables); each such decision is returned as a note
for the report.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import scipy.stats  # noqa: E402
import yaml  # noqa: E402
from rliable import library as rly  # noqa: E402
from rliable import metrics as rlm  # noqa: E402

KNOWN_METHODS: tuple[str, ...] = ("bc", "dbc", "ibc", "diffusion_policy", "gail", "bc_l2", "dbc_nonorm")
KNOWN_TASKS: tuple[str, ...] = ("maze", "fetch_pick", "hand_rotate", "walker", "cheetah", "ant_reach")
METHOD_LABELS = {
    "bc": "BC",
    "dbc": "DBC",
    "ibc": "Implicit BC",
    "diffusion_policy": "Diffusion Policy",
    "gail": "GAIL",
    "bc_l2": "BC + L2",
    "dbc_nonorm": "DBC w/o normalisation",
}
TASK_LABELS = {
    "maze": "Maze",
    "fetch_pick": "FetchPick",
    "hand_rotate": "HandRotate",
    "walker": "Walker",
    "cheetah": "Cheetah",
    "ant_reach": "AntReach",
}
METRICS = ("success", "return")
AGGREGATE_METRICS: tuple[str, ...] = ("iqm", "median", "mean", "optimality_gap")
AGGREGATE_LABELS = {
    "iqm": "IQM",
    "median": "Median",
    "mean": "Mean",
    "optimality_gap": "Optimality gap",
}
SCORE_KINDS = ("final", "best")
RUN_COLUMNS = [
    "task", "method", "seed", "budget", "metric",
    "final_raw", "final_norm", "final_episodes",
    "best_raw", "best_norm", "best_update", "last_update",
    "run_dir",
]


class ReportError(ValueError):
    """Bad input for the report; the message names the offending file, task or field."""


# --------------------------------------------------------------------------- normalisation


def normalise(raw: float, metric: str, ref_min: float | None = None,
              ref_max: float | None = None, task: str | None = None) -> float:
    """Normalised score: the success rate itself, or (raw - min) / (max - min) for returns."""
    name = task if task is not None else "<unnamed>"
    if metric == "success":
        return float(raw)
    if metric != "return":
        raise ReportError(f"task '{name}': unknown metric '{metric}' (expected one of {METRICS})")
    if ref_min is None or ref_max is None:
        raise ReportError(f"task '{name}': a return task needs ref_min_score and ref_max_score")
    lo, hi = float(ref_min), float(ref_max)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ReportError(f"task '{name}': reference scores must be finite (min={lo}, max={hi})")
    if hi <= lo:
        raise ReportError(
            f"task '{name}': ref_max_score ({hi}) must be greater than ref_min_score ({lo})")
    return (float(raw) - lo) / (hi - lo)


# --------------------------------------------------------------------------- loading


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise ReportError(f"{path}: file not found")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object")
    return data


def _finite_number(value, path: Path, field: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ReportError(f"{path}: field '{field}' is not a number ({value!r})") from None
    if not math.isfinite(out):
        raise ReportError(f"{path}: field '{field}' is not finite ({value!r})")
    return out


def load_reference(path: str | os.PathLike) -> dict:
    """Read one task reference JSON; returns {task, metric, ref_min_score, ref_max_score, path}."""
    path = Path(path)
    data = _read_json(path)
    for key in ("task", "metric"):
        if key not in data:
            raise ReportError(f"{path}: missing field '{key}'")
    task, metric = str(data["task"]), str(data["metric"])
    if metric not in METRICS:
        raise ReportError(f"{path}: field 'metric' is '{metric}', expected one of {METRICS}")
    ref = {"task": task, "metric": metric, "ref_min_score": None, "ref_max_score": None,
           "path": str(path)}
    if metric == "return":
        for key in ("ref_min_score", "ref_max_score"):
            if key not in data:
                raise ReportError(f"{path}: missing field '{key}' (needed for return task '{task}')")
            ref[key] = _finite_number(data[key], path, key)
        try:
            normalise(0.0, metric, ref["ref_min_score"], ref["ref_max_score"], task=task)
        except ReportError as exc:
            raise ReportError(f"{path}: {exc}") from None
    return ref


def load_references(paths: Iterable[str | os.PathLike]) -> dict[str, dict]:
    """Task name -> reference, from several reference files (one task each)."""
    refs: dict[str, dict] = {}
    for p in paths:
        ref = load_reference(p)
        if ref["task"] in refs:
            raise ReportError(
                f"{p}: task '{ref['task']}' already defined by {refs[ref['task']]['path']}")
        refs[ref["task"]] = ref
    if not refs:
        raise ReportError("no task reference files given")
    return refs


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise ReportError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ReportError(f"{path}: file is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ReportError(f"{path}: cannot parse CSV ({' '.join(str(exc).split())})") from None
    for col in required:
        if col not in frame.columns:
            raise ReportError(f"{path}: missing column '{col}'")
    if len(frame) == 0:
        raise ReportError(f"{path}: no rows")
    return frame


def _numeric(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ReportError(
            f"{path}: column '{col}' has a missing, NaN or non-numeric value "
            f"(data row {row + 1}: {frame[col].iloc[row]!r})")
    return values


def _episode_scores(frame: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = _numeric(frame, col, path)
    if col == "success" and ((values < 0) | (values > 1)).any():
        raise ReportError(f"{path}: column 'success' must be 0 or 1")
    return values


def load_curve(run_dir: str | os.PathLike, metric: str) -> pd.Series:
    """A run's evaluations during training (eval_curve.csv): mean `metric` per update, by update."""
    path = Path(run_dir) / "eval_curve.csv"
    frame = _read_csv(path, ["update", metric])
    updates = _numeric(frame, "update", path)
    return pd.Series(_episode_scores(frame, metric, path)).groupby(updates).mean().sort_index()


def load_run(run_dir: str | os.PathLike, references: Mapping[str, dict]) -> dict:
    """One run directory -> one row of the per-run table (see RUN_COLUMNS)."""
    run_dir = Path(run_dir)
    meta_path = run_dir / "run.json"
    meta = _read_json(meta_path)
    for key in ("task", "method", "seed"):
        if key not in meta:
            raise ReportError(f"{meta_path}: missing field '{key}'")
    task, method = str(meta["task"]), str(meta["method"])
    try:
        seed = int(meta["seed"])
    except (TypeError, ValueError):
        raise ReportError(f"{meta_path}: field 'seed' is not an integer ({meta['seed']!r})") from None
    # A run filed under the wrong directory would silently land in the wrong table cell.
    expected = (task, method, f"seed{seed}")
    found = (run_dir.parent.parent.name, run_dir.parent.name, run_dir.name)
    if expected != found:
        raise ReportError(
            f"{meta_path}: task/method/seed {expected} do not match its directory {'/'.join(found)}")
    if task not in references:
        raise ReportError(f"{meta_path}: task '{task}' has no reference file among the references given")
    ref = references[task]
    metric = ref["metric"]
    budget = meta.get("budget")
    budget = "" if budget is None else str(budget)

    final_path = run_dir / "eval_final.csv"
    final = _episode_scores(_read_csv(final_path, [metric]), metric, final_path)

    per_update = load_curve(run_dir, metric)
    best_update = per_update.idxmax()

    final_raw = float(final.mean())
    best_raw = float(per_update.max())
    norm = lambda x: normalise(x, metric, ref["ref_min_score"], ref["ref_max_score"], task=task)  # noqa: E731
    return {
        "task": task, "method": method, "seed": seed, "budget": budget, "metric": metric,
        "final_raw": final_raw, "final_norm": norm(final_raw), "final_episodes": int(final.size),
        "best_raw": best_raw, "best_norm": norm(best_raw),
        "best_update": int(best_update) if float(best_update).is_integer() else float(best_update),
        "last_update": int(per_update.index[-1]) if float(per_update.index[-1]).is_integer()
        else float(per_update.index[-1]),
        "run_dir": str(run_dir),
    }


def load_runs(run_dirs: Iterable[str | os.PathLike], references: Mapping[str, dict],
              budget: str | None = None) -> pd.DataFrame:
    """The given run directories (<task>/<method>/seed<k>) as a tidy table, one row per run,
    sorted task/method/seed. The pipeline passes exactly the runs its config asks for, so stale
    runs of an earlier config never leak into a report.

    `budget` keeps only runs whose run.json budget equals it; without it, runs of several
    budgets are an error (they must not be pooled).
    """
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise ReportError("no run directories given")
    for d in run_dirs:
        if not d.is_dir():
            raise ReportError(f"{d}: run directory not found")
    root = Path(os.path.commonpath([str(d) for d in run_dirs]))
    rows = [load_run(d, references) for d in run_dirs]
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    if budget is not None:
        df = df[df["budget"] == str(budget)]
        if df.empty:
            raise ReportError(f"{root}: no runs with budget '{budget}'")
    budgets = sorted(df["budget"].unique())
    if len(budgets) > 1:
        raise ReportError(f"{root}: runs mix budgets {budgets}; select one with --budget")
    dup = df.duplicated(["task", "method", "seed"], keep=False)
    if dup.any():
        raise ReportError(f"{root}: duplicate runs {sorted(df.loc[dup, 'run_dir'])}")
    return sort_runs(df)


def sort_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in report order: known tasks and methods first, then others alphabetically."""
    t_rank = {t: i for i, t in enumerate(order_tasks(df["task"].unique()))}
    m_rank = {m: i for i, m in enumerate(order_methods(df["method"].unique()))}
    key = pd.DataFrame({"t": df["task"].map(t_rank), "m": df["method"].map(m_rank),
                        "s": df["seed"]})
    return df.loc[key.sort_values(["t", "m", "s"]).index].reset_index(drop=True)


def hardware_note() -> str:
    """The machine the timings come from, in one line."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = f"{names[0]} x {len(names)} logical CPUs" if names else cpu
    except OSError:
        pass
    return f"{cpu}; {platform.system()} {platform.release()}; Python {platform.python_version()}"


def load_latencies(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Inference latency files (evaluate_policy.py --latency-out): task, method, batch,
    latency_ms_batch1, latency_ms_batched."""
    rows = []
    for path in map(Path, paths):
        record = _read_json(path)
        row = {key: record.get(key) for key in ("task", "method")}
        for key in ("batch", "latency_ms_batch1", "latency_ms_batched"):
            row[key] = _finite_number(record.get(key), path, key)
        if None in (row["task"], row["method"]):
            raise ReportError(f"{path}: missing field 'task' or 'method'")
        rows.append(row)
    return pd.DataFrame(rows, columns=["task", "method", "batch", "latency_ms_batch1", "latency_ms_batched"])


def cost_table(df: pd.DataFrame, latencies: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per task and method, means over seeds of each run's timing.json; DBC's diffusion-model
    pre-training (one model per task, shared by its seeds) is listed and added to its total.
    With `latencies` (load_latencies), the inference latency per action of each task and method."""
    rows = []
    for run_dir in df["run_dir"]:
        run_dir = Path(run_dir)
        timing = _read_json(run_dir / "timing.json")
        meta = _read_json(run_dir / "run.json")
        pre = 0.0
        dm_path = (meta.get("context") or {}).get("diffusion_model")
        if dm_path:
            pre = float(_read_json(Path(dm_path).parent / "timing.json").get("wall_seconds", float("nan")))
        rows.append({"task": meta["task"], "method": meta["method"], "device": meta.get("device", ""),
                     "threads": meta.get("threads", ""),
                     "pretrain_s": pre, "train_s": timing["train_seconds"], "eval_s": timing["eval_seconds"],
                     "wall_s": timing["wall_seconds"], "updates_per_s": timing["updates_per_second"],
                     "peak_rss_mb": timing["peak_rss_mb"]})
    frame = pd.DataFrame(rows)
    table = (frame.groupby(["task", "method", "device", "threads"], sort=False)
             .agg(seeds=("train_s", "size"), pretrain_s=("pretrain_s", "mean"), train_s=("train_s", "mean"),
                  eval_s=("eval_s", "mean"), wall_s=("wall_s", "mean"), updates_per_s=("updates_per_s", "mean"),
                  peak_rss_mb=("peak_rss_mb", "max"))
             .reset_index())
    # Total per seed: its own job plus an equal share of the task's shared pre-training.
    table["total_min_per_seed"] = (table["wall_s"] + table["pretrain_s"] / table["seeds"]) / 60
    latencies = load_latencies([]) if latencies is None else latencies
    return table.merge(latencies, on=["task", "method"], how="left")


def format_cost_table(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Task": table["task"].map(task_label), "Method": table["method"].map(method_label),
        "Seeds": table["seeds"], "Device (threads)": [f"{d} ({t})" for d, t in zip(table["device"], table["threads"])],
        "Pre-training (s)": [_num(x, 0) if x > 0 else "-" for x in table["pretrain_s"]],
        "Training (s/seed)": [_num(x, 0) for x in table["train_s"]],
        "Evaluation (s/seed)": [_num(x, 0) for x in table["eval_s"]],
        "Updates/s": [_num(x, 0) for x in table["updates_per_s"]],
        "Peak RSS (MB)": [_num(x, 0) for x in table["peak_rss_mb"]],
        "Latency (ms/action, 1 env)": [_num(x, 3) for x in table["latency_ms_batch1"]],
        "Latency (ms/batch)": ["-" if pd.isna(x) else f"{_num(x, 2)} ({int(b)} envs)"
                               for x, b in zip(table["latency_ms_batched"], table["batch"])],
        "Total (min/seed)": [_num(x, 1) for x in table["total_min_per_seed"]],
    })


def load_paper_results(path: str | os.PathLike) -> dict[tuple[str, str], tuple[float, float]]:
    """(method, task) -> (mean, std) of the paper's main table, in the paper's units
    (success in %, return raw)."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReportError(f"{path}: cannot read YAML ({' '.join(str(exc).split())})") from None
    table = data.get("main_table") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ReportError(f"{path}: missing mapping 'main_table'")
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for method, tasks in table.items():
        if not isinstance(tasks, dict):
            raise ReportError(f"{path}: main_table.{method} must map tasks to {{mean, std}}")
        for task, cell in tasks.items():
            field = f"main_table.{method}.{task}"
            if not isinstance(cell, dict) or "mean" not in cell or "std" not in cell:
                raise ReportError(f"{path}: field '{field}' needs 'mean' and 'std'")
            out[(str(method), str(task))] = (_finite_number(cell["mean"], path, field + ".mean"),
                                             _finite_number(cell["std"], path, field + ".std"))
    return out


# --------------------------------------------------------------------------- ordering, colours


def _ordered(names: Iterable[str], known: Sequence[str]) -> list[str]:
    names = set(map(str, names))
    return [n for n in known if n in names] + sorted(names - set(known))


def order_methods(methods: Iterable[str]) -> list[str]:
    """Known methods in the suite's order (bc, dbc, ibc, diffusion_policy, gail), then the rest
    alphabetically."""
    return _ordered(methods, KNOWN_METHODS)


def order_tasks(tasks: Iterable[str]) -> list[str]:
    return _ordered(tasks, KNOWN_TASKS)


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task)


def method_palette(methods: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """Fixed colour-blind colours: known methods always keep the same colour; other methods take
    the following palette entries in alphabetical order (cycling after ten)."""
    colours = sns.color_palette("colorblind", 10)
    out = {}
    extra = 0
    for m in order_methods(methods):
        if m in KNOWN_METHODS:
            out[m] = tuple(colours[KNOWN_METHODS.index(m)])
        else:
            out[m] = tuple(colours[(len(KNOWN_METHODS) + extra) % len(colours)])
            extra += 1
    return out


# --------------------------------------------------------------------------- rliable


def _aggregate_vector(scores: np.ndarray) -> np.ndarray:
    return np.array([
        rlm.aggregate_iqm(scores),
        rlm.aggregate_median(scores),
        rlm.aggregate_mean(scores),
        rlm.aggregate_optimality_gap(scores),
    ])


def _iqm_vector(scores: np.ndarray) -> np.ndarray:
    return np.array([rlm.aggregate_iqm(scores)])


def bootstrap(matrix: np.ndarray | tuple[np.ndarray, ...], func: Callable[..., np.ndarray], reps: int,
              seed: int, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """rliable stratified bootstrap of `func` on one (n_runs, n_tasks) matrix, or on a tuple of
    them that `func` takes together (e.g. probability of improvement of x over y).

    Returns (point estimates, intervals of shape (2, k)). Seeds numpy's global generator right
    before the call (rliable ignores random_state) and restores the caller's state afterwards.
    """
    matrices = tuple(np.asarray(m, dtype=float) for m in (matrix if isinstance(matrix, tuple) else (matrix,)))
    for m in matrices:
        if m.ndim != 2 or m.size == 0:
            raise ReportError(f"score matrix must be a non-empty (n_runs, n_tasks) array, got shape {m.shape}")
    if int(reps) < 1:
        raise ReportError(f"reps must be a positive integer, got {reps}")
    saved = np.random.get_state()
    try:
        np.random.seed(int(seed))
        point, interval = rly.get_interval_estimates(
            {"m": matrices if len(matrices) > 1 else matrices[0]}, func, reps=int(reps),
            confidence_interval_size=confidence)
    finally:
        np.random.set_state(saved)
    return np.atleast_1d(np.asarray(point["m"], dtype=float)), np.asarray(interval["m"], dtype=float)


def probability_of_improvement(matrices: Mapping[str, np.ndarray], method: str, reps: int, seed: int,
                               confidence: float = 0.95) -> pd.DataFrame:
    """P(`method` > other) for every other method (rliable's average over tasks of the
    Mann-Whitney probability that a run of one beats a run of the other), with stratified
    bootstrap CIs. Rows: method, other, estimate, ci_low, ci_high."""
    from rliable import metrics as rly_metrics

    rows = []
    for other in order_methods(m for m in matrices if m != method):
        point, ci = bootstrap((matrices[method], matrices[other]),
                              lambda x, y: np.array([rly_metrics.probability_of_improvement(x, y)]),
                              reps, seed, confidence)
        rows.append({"method": method, "other": other, "estimate": float(point[0]),
                     "ci_low": float(ci[0, 0]), "ci_high": float(ci[1, 0])})
    return pd.DataFrame(rows, columns=["method", "other", "estimate", "ci_low", "ci_high"])


def score_matrices(df: pd.DataFrame, column: str = "final_norm", on_unequal: str = "error",
                   ) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """Per method a (n_seeds, n_tasks) matrix of `column`, tasks in report order.

    Returns (matrices, tasks, notes). Rows are the seeds in increasing order within each task.
    See the module docstring for `on_unequal` ("error" or "common").
    """
    if on_unequal not in ("error", "common"):
        raise ReportError(f"on_unequal must be 'error' or 'common', got '{on_unequal}'")
    tasks = order_tasks(df["task"].unique())
    matrices: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for method in order_methods(df["method"].unique()):
        sub = df[df["method"] == method]
        seeds = {t: sorted(sub.loc[sub["task"] == t, "seed"]) for t in tasks}
        counts = {t: len(s) for t, s in seeds.items()}
        if len(set(counts.values())) == 1:
            cols = [sub[sub["task"] == t].sort_values("seed")[column].to_numpy(float) for t in tasks]
        elif on_unequal == "error":
            shown = ", ".join(f"{t}: {n}" for t, n in counts.items())
            raise ReportError(
                f"method '{method}' has unequal seed counts across tasks ({shown}); the aggregates "
                f"need one (n_seeds, n_tasks) matrix: finish the missing runs or use --unequal-seeds common")
        else:
            missing = [t for t, n in counts.items() if n == 0]
            common = sorted(set.intersection(*(set(s) for s in seeds.values())))
            if missing or not common:
                why = f"no runs on {missing}" if missing else "no seed present on every task"
                notes.append(f"{method}: left out of the aggregates ({why})")
                continue
            notes.append(f"{method}: aggregates use only the seeds present on every task {common}")
            keep = sub[sub["seed"].isin(common)]
            cols = [keep[keep["task"] == t].sort_values("seed")[column].to_numpy(float) for t in tasks]
        matrices[method] = np.column_stack(cols)
    return matrices, tasks, notes


def aggregate_scores(matrices: Mapping[str, np.ndarray], reps: int, seed: int,
                     confidence: float = 0.95) -> pd.DataFrame:
    """IQM, median, mean and optimality gap (gamma 1) with stratified-bootstrap CIs per method.

    Columns: method, metric, estimate, ci_low, ci_high (one rliable call per method, each seeded
    with `seed`).
    """
    rows = []
    for method in order_methods(matrices.keys()):
        point, interval = bootstrap(matrices[method], _aggregate_vector, reps, seed, confidence)
        for i, metric in enumerate(AGGREGATE_METRICS):
            rows.append({"method": method, "metric": metric, "estimate": float(point[i]),
                         "ci_low": float(interval[0, i]), "ci_high": float(interval[1, i])})
    return pd.DataFrame(rows, columns=["method", "metric", "estimate", "ci_low", "ci_high"])


def score_distribution(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of all scores above each threshold: rliable's `score_distributions` in one
    vectorised expression (the bootstrap calls it once per replication)."""
    return np.mean(np.reshape(scores, (-1, 1)) > np.reshape(thresholds, (1, -1)), axis=0)


def performance_profiles(matrices: Mapping[str, np.ndarray], thresholds: np.ndarray, reps: int, seed: int,
                         confidence: float = 0.95) -> pd.DataFrame:
    """rliable score distributions: per method and threshold tau, the fraction of (run, task)
    normalised scores above tau, with stratified-bootstrap CIs (one seeded call per method).
    Columns: method, tau, estimate, ci_low, ci_high."""
    thresholds = np.asarray(thresholds, dtype=float)
    rows = []
    for method in order_methods(matrices.keys()):
        point, ci = bootstrap(matrices[method], lambda x: score_distribution(x, thresholds),
                              reps, seed, confidence)
        rows += [{"method": method, "tau": float(t), "estimate": float(e), "ci_low": float(lo),
                  "ci_high": float(hi)} for t, e, lo, hi in zip(thresholds, point, ci[0], ci[1])]
    return pd.DataFrame(rows, columns=["method", "tau", "estimate", "ci_low", "ci_high"])


def profile_thresholds(matrices: Mapping[str, np.ndarray], points: int = 101) -> np.ndarray:
    """Thresholds from 0 to the largest normalised score (at least 1), where every profile has
    fallen to 0."""
    top = max([1.0] + [float(np.max(m)) for m in matrices.values()])
    return np.linspace(0.0, top, points)


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


def learning_curve_intervals(curves: pd.DataFrame, reps: int, seed: int,
                             confidence: float = 0.95) -> pd.DataFrame:
    """Per task and method, the IQM over seeds of the raw score at each evaluation point, with a
    stratified-bootstrap CI (seeds resampled independently per point, as in rliable's learning
    curves). Columns: task, method, point, fraction, estimate, ci_low, ci_high."""
    for (task, method), sub in curves.groupby(["task", "method"], sort=False):
        counts = sub.groupby("seed")["point"].count()
        if counts.nunique() > 1:
            raise ReportError(f"{task}/{method}: seeds were evaluated at different numbers of points "
                              f"({counts.to_dict()}); their curves cannot be pooled")
    frames = []
    for method in order_methods(curves["method"].unique()):
        sub = curves[curves["method"] == method]
        # One bootstrap call per method over all its (task, point) columns when every task has
        # the same number of seeds (each column is resampled on its own either way), else per task.
        same_seeds = sub.groupby("task")["seed"].nunique().nunique() == 1
        groups = [sub] if same_seeds else [g for _, g in sub.groupby("task", sort=False)]
        frames += [_curve_iqm(group, reps, seed, confidence) for group in groups]
    columns = ["task", "method", "point", "fraction", "estimate", "ci_low", "ci_high"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _curve_iqm(curves: pd.DataFrame, reps: int, seed: int, confidence: float) -> pd.DataFrame:
    """IQM and CI per (task, point) column of one method's curves; seeds are matched by rank."""
    curves = curves.assign(rank=curves.groupby("task")["seed"].rank(method="dense").astype(int))
    table = curves.pivot(index="rank", columns=["task", "point"], values="raw")
    fractions = curves.groupby(["task", "point"])["fraction"].mean()
    point, ci = bootstrap(table.to_numpy(float),
                          # rliable's IQM (a 25% trimmed mean) of every column at once
                          lambda x: scipy.stats.trim_mean(x, proportiontocut=0.25, axis=0),
                          reps, seed, confidence)
    out = pd.DataFrame(list(table.columns), columns=["task", "point"])
    out["method"] = curves["method"].iloc[0]
    out["fraction"] = [fractions[key] for key in table.columns]
    out["estimate"], out["ci_low"], out["ci_high"] = point, ci[0], ci[1]
    return out


# --------------------------------------------------------------------------- tables


def display_scale(metric: str) -> float:
    """Factor from raw to table units: success rates are shown in percent."""
    return 100.0 if metric == "success" else 1.0


def per_task_table(df: pd.DataFrame, paper: Mapping[tuple[str, str], tuple[float, float]] | None,
                   reps: int, seed: int, kind: str = "final", confidence: float = 0.95,
                   ddof: int = 1) -> pd.DataFrame:
    """One row per (task, method): mean, std (ddof) and IQM with bootstrap CI over seeds of the
    `kind` ("final" or "best") raw score in table units (success %, return raw), next to the
    paper's mean and std and the difference ours - paper (NaN where the paper has no number)."""
    if kind not in SCORE_KINDS:
        raise ReportError(f"kind must be one of {SCORE_KINDS}, got '{kind}'")
    paper = paper or {}
    column = f"{kind}_raw"
    rows = []
    for task in order_tasks(df["task"].unique()):
        at_task = df[df["task"] == task]
        metric = str(at_task["metric"].iloc[0])
        scale = display_scale(metric)
        for method in order_methods(at_task["method"].unique()):
            vals = at_task[at_task["method"] == method].sort_values("seed")[column].to_numpy(float) * scale
            n = vals.size
            point, interval = bootstrap(vals.reshape(-1, 1), _iqm_vector, reps, seed, confidence)
            p_mean, p_std = paper.get((method, task), (math.nan, math.nan))
            mean = float(vals.mean())
            rows.append({
                "task": task, "method": method, "metric": metric,
                "unit": "%" if metric == "success" else "return",
                "n_seeds": n, "mean": mean,
                "std": float(vals.std(ddof=ddof)) if n > ddof else math.nan,
                "iqm": float(point[0]), "iqm_ci_low": float(interval[0, 0]),
                "iqm_ci_high": float(interval[1, 0]),
                "paper_mean": p_mean, "paper_std": p_std, "diff": mean - p_mean,
            })
    return pd.DataFrame(rows)


def _num(x: float, digits: int, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _pm(mean: float, std: float, digits: int) -> str:
    if not math.isfinite(mean):
        return "-"
    if not math.isfinite(std):
        return _num(mean, digits)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _ci(est: float, lo: float, hi: float, digits: int) -> str:
    return f"{est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def format_task_table(table: pd.DataFrame, confidence: float = 0.95, digits: int = 1) -> pd.DataFrame:
    """Display strings for a per_task_table (task and method names, '-' where missing)."""
    pct = f"{confidence * 100:g}%"
    rows = []
    for r in table.itertuples(index=False):
        unit = "success %" if r.metric == "success" else "return"
        rows.append({
            "Task": f"{task_label(r.task)} ({unit})",
            "Method": method_label(r.method),
            "Seeds": str(r.n_seeds),
            "Ours mean ± std": _pm(r.mean, r.std, digits),
            f"Ours IQM [{pct} CI]": _ci(r.iqm, r.iqm_ci_low, r.iqm_ci_high, digits),
            "Paper mean ± std": _pm(r.paper_mean, r.paper_std, digits),
            "Ours - Paper": _num(r.diff, digits, sign=True),
        })
    return pd.DataFrame(rows)


def format_aggregate_table(agg: pd.DataFrame, confidence: float = 0.95, digits: int = 3) -> pd.DataFrame:
    """One row per method, one '<estimate> [low, high]' column per aggregate metric."""
    pct = f"{confidence * 100:g}%"
    rows = []
    for method in order_methods(agg["method"].unique()):
        sub = agg[agg["method"] == method].set_index("metric")
        row = {"Method": method_label(method)}
        for metric in AGGREGATE_METRICS:
            if metric in sub.index:
                s = sub.loc[metric]
                row[f"{AGGREGATE_LABELS[metric]} [{pct} CI]"] = _ci(s.estimate, s.ci_low, s.ci_high, digits)
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame) -> str:
    """GitHub pipe table of a frame of strings (written here so no `tabulate` is needed)."""
    def cell(x) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")
    cols = [cell(c) for c in table.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(x) for x in row) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_table(table: pd.DataFrame, caption: str | None = None, label: str | None = None,
                n_left: int = 1) -> str:
    """booktabs table environment of a frame of strings; the first `n_left` columns are
    left-aligned, the rest right-aligned."""
    n = len(table.columns)
    align = "l" * min(n_left, n) + "r" * max(n - n_left, 0)
    lines = [r"\begin{table}[ht]", r"\centering", r"\small"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines += [r"\begin{tabular}{" + align + "}", r"\toprule",
              " & ".join(latex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    for row in table.itertuples(index=False):
        lines.append(" & ".join(latex_escape(x) for x in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- atomic writers


def _temp_in(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp creates mode 0600; give the final file the usual umask-based permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write to a temporary file in the same directory, then rename over `path`."""
    path = Path(path)
    tmp = _temp_in(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, df.to_csv(index=False))


def atomic_savefig(fig, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Save a figure atomically; the format comes from the suffix of `path`."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    # Without these the files embed the creation time / version and differ between reruns.
    metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None} if fmt == "png" else None
    tmp = _temp_in(path)
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _save_pdf_png(fig, stem: str | os.PathLike) -> list[Path]:
    stem = Path(stem)
    try:
        return [atomic_savefig(fig, stem.with_name(stem.name + ext)) for ext in (".pdf", ".png")]
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- figures


def plot_aggregate_intervals(agg: pd.DataFrame, palette: Mapping[str, tuple], stem: str | os.PathLike,
                             title: str | None = None, confidence: float = 0.95) -> list[Path]:
    """Interval plot: one panel per aggregate metric, method on y, normalised score on x, a bar
    for the CI and a tick for the point estimate. Writes `<stem>.pdf` and `<stem>.png`."""
    methods = order_methods(agg["method"].unique())
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(AGGREGATE_METRICS), sharey=True,
                                 figsize=(3.0 * len(AGGREGATE_METRICS), 0.5 * max(len(methods), 1) + 1.6))
        for ax, metric in zip(axes, AGGREGATE_METRICS):
            sub = agg[agg["metric"] == metric].set_index("method")
            for i, method in enumerate(methods):
                y = len(methods) - 1 - i
                r = sub.loc[method]
                ax.barh(y, r.ci_high - r.ci_low, left=r.ci_low, height=0.6,
                        color=palette[method], alpha=0.8)
                ax.vlines(r.estimate, y - 0.3, y + 0.3, color="black", linewidth=1.5)
            ax.set_title(AGGREGATE_LABELS[metric] + (" (lower is better)" if metric == "optimality_gap" else ""),
                         fontsize=10)
            ax.set_xlabel("normalised score")
            ax.grid(axis="y", visible=False)
            if not methods:
                ax.text(0.5, 0.5, "no methods", transform=ax.transAxes, ha="center")
        axes[0].set_yticks(range(len(methods)))
        axes[0].set_yticklabels([method_label(m) for m in reversed(methods)])
        axes[0].set_ylim(-0.6, len(methods) - 0.4)
        head = f"Aggregate normalised final scores, {confidence * 100:g}% stratified-bootstrap CIs"
        fig.suptitle(f"{head} ({title})" if title else head, fontsize=11)
        fig.tight_layout()
    return _save_pdf_png(fig, stem)


def plot_per_task_scores(df: pd.DataFrame, palette: Mapping[str, tuple], stem: str | os.PathLike,
                         kind: str = "final", paper: Mapping[tuple[str, str], tuple[float, float]] | None = None,
                         title: str | None = None) -> list[Path]:
    """One panel per task: each seed's `kind` score as a point, the mean over seeds as a black
    bar and the paper's mean as a cross where published. Writes `<stem>.pdf` and `<stem>.png`."""
    paper = paper or {}
    tasks = order_tasks(df["task"].unique())
    column = f"{kind}_raw"
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3.6), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            at_task = df[df["task"] == task]
            metric = str(at_task["metric"].iloc[0])
            scale = display_scale(metric)
            methods = order_methods(at_task["method"].unique())
            for x, method in enumerate(methods):
                vals = at_task[at_task["method"] == method].sort_values("seed")[column].to_numpy(float) * scale
                # Fixed offsets instead of random jitter keep the figure identical between reruns.
                offsets = np.linspace(-0.15, 0.15, vals.size) if vals.size > 1 else np.zeros(1)
                ax.scatter(x + offsets, vals, color=palette[method], edgecolor="black",
                           linewidth=0.4, s=28, zorder=3)
                ax.hlines(vals.mean(), x - 0.3, x + 0.3, color="black", linewidth=2, zorder=4)
                if (method, task) in paper:
                    ax.scatter([x + 0.33], [paper[(method, task)][0]], marker="x", color="dimgray",
                               s=30, zorder=4)
            ax.set_xticks(range(len(methods)))
            ax.set_xticklabels([method_label(m) for m in methods], rotation=30, ha="right")
            ax.set_xlim(-0.6, len(methods) - 0.4)
            ax.set_title(task_label(task), fontsize=10)
            ax.set_ylabel("success rate (%)" if metric == "success" else "return")
        handles = [
            Line2D([], [], marker="o", linestyle="", markerfacecolor="lightgray",
                   markeredgecolor="black", markeredgewidth=0.4, label="seed"),
            Line2D([], [], color="black", linewidth=2, label="mean over seeds"),
        ]
        if any((m, t) in paper for m in df["method"].unique() for t in tasks):
            handles.append(Line2D([], [], marker="x", linestyle="", color="dimgray", label="paper mean"))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
                   bbox_to_anchor=(0.5, -0.02))
        head = "Final score per task" if kind == "final" else "Best score during training per task"
        fig.suptitle(f"{head} ({title})" if title else head, fontsize=11)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save_pdf_png(fig, stem)


def plot_performance_profiles(profiles: pd.DataFrame, palette: Mapping[str, tuple], stem: str | os.PathLike,
                              title: str | None = None, confidence: float = 0.95) -> list[Path]:
    """Score distributions (fraction of runs with normalised score > tau) per method, with the
    bootstrap CI as a band. Writes `<stem>.pdf` and `<stem>.png`."""
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        for method in order_methods(profiles["method"].unique()):
            sub = profiles[profiles["method"] == method]
            ax.plot(sub["tau"], sub["estimate"], color=palette[method], linewidth=2, label=method_label(method))
            ax.fill_between(sub["tau"], sub["ci_low"], sub["ci_high"], color=palette[method], alpha=0.2,
                            linewidth=0)
        ax.set_xlabel(r"normalised score $\tau$")
        ax.set_ylabel(r"fraction of runs with score $> \tau$")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(frameon=False, fontsize=8, loc="lower left")
        head = f"Performance profiles, {confidence * 100:g}% CI bands"
        ax.set_title(f"{head} ({title})" if title else head, fontsize=10)
        fig.tight_layout()
    return _save_pdf_png(fig, stem)


def plot_improvement(improvement: pd.DataFrame, palette: Mapping[str, tuple], stem: str | os.PathLike,
                     title: str | None = None, confidence: float = 0.95) -> list[Path]:
    """P(method > other) for each compared pair: the CI as a bar in the other method's colour,
    the estimate as a tick, and 0.5 (no difference) as a dashed line."""
    n = len(improvement)
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(5.2, 0.55 * max(n, 1) + 1.4))
        for i, r in enumerate(improvement.itertuples()):
            y = n - 1 - i
            ax.barh(y, r.ci_high - r.ci_low, left=r.ci_low, height=0.6, color=palette[r.other], alpha=0.8)
            ax.vlines(r.estimate, y - 0.3, y + 0.3, color="black", linewidth=1.5)
        ax.axvline(0.5, color="dimgray", linestyle="--", linewidth=1)
        ax.set_yticks(range(n))
        ax.set_yticklabels([f"P({method_label(r.method)} > {method_label(r.other)})"
                            for r in reversed(list(improvement.itertuples()))])
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.6, max(n, 1) - 0.4)
        ax.set_xlabel("probability of improvement")
        ax.grid(axis="y", visible=False)
        head = f"Probability of improvement, {confidence * 100:g}% CIs"
        ax.set_title(f"{head} ({title})" if title else head, fontsize=10)
        fig.tight_layout()
    return _save_pdf_png(fig, stem)


def plot_learning_curves(intervals: pd.DataFrame, metrics: Mapping[str, str], palette: Mapping[str, tuple],
                         stem: str | os.PathLike, title: str | None = None,
                         confidence: float = 0.95) -> list[Path]:
    """One panel per task: the IQM over seeds at each evaluation during training against the
    fraction of training done, with the bootstrap CI as a band. `metrics` maps task -> metric."""
    tasks = order_tasks(intervals["task"].unique())
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(3.2 * max(len(tasks), 1), 3.4), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            at_task = intervals[intervals["task"] == task]
            scale = display_scale(metrics[task])
            for method in order_methods(at_task["method"].unique()):
                sub = at_task[at_task["method"] == method].sort_values("point")
                ax.plot(sub["fraction"], sub["estimate"] * scale, marker="o", markersize=3,
                        color=palette[method], label=method_label(method))
                ax.fill_between(sub["fraction"], sub["ci_low"] * scale, sub["ci_high"] * scale,
                                color=palette[method], alpha=0.2, linewidth=0)
            ax.set_title(task_label(task), fontsize=10)
            ax.set_xlabel("fraction of training")
            ax.set_ylabel("success rate (%)" if metrics[task] == "success" else "return")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=max(len(labels), 1), frameon=False,
                   bbox_to_anchor=(0.5, -0.02), fontsize=8)
        head = f"IQM over seeds during training, {confidence * 100:g}% CI bands"
        fig.suptitle(f"{head} ({title})" if title else head, fontsize=11)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _save_pdf_png(fig, stem)
