"""rliable statistics over seeds: aggregate scores, probability of improvement, performance
profiles and learning-curve intervals, each with stratified-bootstrap confidence intervals.

Bootstrap reproducibility: rliable 1.2.0 ignores its `random_state` argument and draws from
numpy's global generator, so every rliable call below is preceded by `np.random.seed(seed)` (and
the caller's global state is restored afterwards). Each method gets its own call with the same
seed, so a method's interval does not change when other methods are added to or removed from
the report.

Unequal seed counts: rliable's stratified bootstrap needs one (n_seeds, n_tasks) matrix per
method. By default (`on_unequal="error"`) a method whose seed count differs between tasks, or
that lacks a task, raises BenchError naming the counts. With `on_unequal="common"` the method's
matrix keeps only the seeds present on every task, and a method missing a task entirely is left
out of the aggregates (it stays in the per-task tables); each such decision is returned as a note
for the report.

Functions taking a mapping of score matrices keep its order (score_matrices returns them in the
registry's order).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import pandas as pd
import scipy.stats
from rliable import library as rly
from rliable import metrics as rlm

from analysis.labels import Registry
from dbc_bench.errors import BenchError

AGGREGATE_METRICS: tuple[str, ...] = ("iqm", "median", "mean", "optimality_gap")
AGGREGATE_LABELS = {
    "iqm": "IQM",
    "median": "Median",
    "mean": "Mean",
    "optimality_gap": "Optimality gap",
}
INTERVAL_COLUMNS = ["estimate", "ci_low", "ci_high"]


def _aggregate_vector(scores: np.ndarray) -> np.ndarray:
    return np.array([
        rlm.aggregate_iqm(scores),
        rlm.aggregate_median(scores),
        rlm.aggregate_mean(scores),
        rlm.aggregate_optimality_gap(scores),
    ])


def iqm_vector(scores: np.ndarray) -> np.ndarray:
    """rliable's IQM over all scores, as a one-element vector (what `bootstrap` expects)."""
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
            raise BenchError(f"score matrix must be a non-empty (n_runs, n_tasks) array, got shape {m.shape}")
    if int(reps) < 1:
        raise BenchError(f"reps must be a positive integer, got {reps}")
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
    rows = []
    for other in (m for m in matrices if m != method):
        point, ci = bootstrap((matrices[method], matrices[other]),
                              lambda x, y: np.array([rlm.probability_of_improvement(x, y)]),
                              reps, seed, confidence)
        rows.append({"method": method, "other": other, "estimate": float(point[0]),
                     "ci_low": float(ci[0, 0]), "ci_high": float(ci[1, 0])})
    return pd.DataFrame(rows, columns=["method", "other", *INTERVAL_COLUMNS])


def score_matrices(df: pd.DataFrame, column: str = "final_norm", on_unequal: str = "error",
                   registry: Registry = Registry(),
                   ) -> tuple[dict[str, np.ndarray], list[str], list[str]]:
    """Per method a (n_seeds, n_tasks) matrix of `column`, methods and tasks in the registry's
    order.

    Returns (matrices, tasks, notes). Rows are the seeds in increasing order within each task.
    See the module docstring for `on_unequal` ("error" or "common").
    """
    if on_unequal not in ("error", "common"):
        raise BenchError(f"on_unequal must be 'error' or 'common', got '{on_unequal}'")
    tasks = registry.order_tasks(df["task"].unique())
    matrices: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for method in registry.order_methods(df["method"].unique()):
        sub = df[df["method"] == method]
        seeds = {t: sorted(sub.loc[sub["task"] == t, "seed"]) for t in tasks}
        counts = {t: len(s) for t, s in seeds.items()}
        if len(set(counts.values())) == 1:
            cols = [sub[sub["task"] == t].sort_values("seed")[column].to_numpy(float) for t in tasks]
        elif on_unequal == "error":
            shown = ", ".join(f"{t}: {n}" for t, n in counts.items())
            raise BenchError(
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
    for method, matrix in matrices.items():
        point, interval = bootstrap(matrix, _aggregate_vector, reps, seed, confidence)
        for i, metric in enumerate(AGGREGATE_METRICS):
            rows.append({"method": method, "metric": metric, "estimate": float(point[i]),
                         "ci_low": float(interval[0, i]), "ci_high": float(interval[1, i])})
    return pd.DataFrame(rows, columns=["method", "metric", *INTERVAL_COLUMNS])


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
    for method, matrix in matrices.items():
        point, ci = bootstrap(matrix, lambda x: score_distribution(x, thresholds), reps, seed, confidence)
        rows += [{"method": method, "tau": float(t), "estimate": float(e), "ci_low": float(lo),
                  "ci_high": float(hi)} for t, e, lo, hi in zip(thresholds, point, ci[0], ci[1])]
    return pd.DataFrame(rows, columns=["method", "tau", *INTERVAL_COLUMNS])


def profile_thresholds(matrices: Mapping[str, np.ndarray], points: int = 101) -> np.ndarray:
    """Thresholds from 0 to the largest normalised score (at least 1), where every profile has
    fallen to 0."""
    top = max([1.0] + [float(np.max(m)) for m in matrices.values()])
    return np.linspace(0.0, top, points)


def learning_curve_intervals(curves: pd.DataFrame, reps: int, seed: int, confidence: float = 0.95,
                             registry: Registry = Registry()) -> pd.DataFrame:
    """Per task and method, the IQM over seeds of the raw score at each evaluation point, with a
    stratified-bootstrap CI (seeds resampled independently per point, as in rliable's learning
    curves); methods in the registry's order. Columns: task, method, point, fraction, estimate,
    ci_low, ci_high."""
    for (task, method), sub in curves.groupby(["task", "method"], sort=False):
        counts = sub.groupby("seed")["point"].count()
        if counts.nunique() > 1:
            raise BenchError(f"{task}/{method}: seeds were evaluated at different numbers of points "
                             f"({counts.to_dict()}); their curves cannot be pooled")
    frames = []
    for method in registry.order_methods(curves["method"].unique()):
        sub = curves[curves["method"] == method]
        # One bootstrap call per method over all its (task, point) columns when every task has
        # the same number of seeds (each column is resampled on its own either way), else per task.
        same_seeds = sub.groupby("task")["seed"].nunique().nunique() == 1
        groups = [sub] if same_seeds else [g for _, g in sub.groupby("task", sort=False)]
        frames += [_curve_iqm(group, reps, seed, confidence) for group in groups]
    columns = ["task", "method", "point", "fraction", *INTERVAL_COLUMNS]
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
