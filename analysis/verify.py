"""The `verify` target's comparison: regenerated datasets and rerun runs against the committed ones.

A rerun is *bit-identical* when its per-episode results (eval_final.csv) have the committed bytes.
Otherwise the report gives the largest per-episode difference and whether the rerun's score (success
rate in %, or mean return) lies inside the committed run's 95% interval: a stratified bootstrap over
the committed run's episodes (rliable, seeded), i.e. the spread one run's evaluation alone implies.
A rerun under other code (its fingerprint in run.json differs) or other kernels is named as such:
its numbers are expected to differ.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.loading import episode_scores, read_csv
from analysis.statistics import bootstrap
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json

EPISODE_FILE = "eval_final.csv"
COMPARED_COLUMNS = ("success", "return", "length")


def _mean(scores: np.ndarray) -> np.ndarray:
    return np.array([float(np.mean(scores))])


def _files_equal(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()


def compare_dataset(task: str, committed_summary: Path, rerun_summary: Path) -> dict:
    """The regenerated dataset's file hashes against the committed summary's (and the shipped card's)."""
    rerun = read_json(rerun_summary)
    out: dict = {"task": task, "rerun_files": rerun.get("files", {})}
    if committed_summary.is_file():
        committed = read_json(committed_summary).get("files")
        if committed is None:
            out["committed"] = f"{committed_summary} records no file hashes (made before they were recorded)"
        else:
            differing = sorted(name for name in set(committed) | set(out["rerun_files"])
                               if committed.get(name) != out["rerun_files"].get(name))
            out["committed"] = "identical" if not differing else f"differs: {', '.join(differing)}"
    else:
        out["committed"] = f"no committed summary {committed_summary}"
    comparison = rerun.get("shipped_comparison")
    if comparison is not None:
        out["shipped"] = "identical" if comparison["match"] else "differs: " + ", ".join(
            name for name, f in comparison["files"].items() if f["card"] != f["dataset"])
    else:
        out["shipped"] = "no shipped dataset for this budget's recipe"
    return out


def compare_run(committed_dir: Path, rerun_dir: Path, metric: str, reps: int, seed: int) -> dict:
    """Per-episode results of a rerun against the committed run's."""
    label = "/".join(rerun_dir.parts[-3:])
    committed_file, rerun_file = committed_dir / EPISODE_FILE, rerun_dir / EPISODE_FILE
    if not committed_file.is_file():
        raise BenchError(f"{committed_file}: no committed run to compare {label} with")
    out: dict = {"run": label, "bit_identical": _files_equal(committed_file, rerun_file),
                 "train_log_identical": _files_equal(committed_dir / "train_log.csv", rerun_dir / "train_log.csv")}
    committed_info = read_json(committed_dir / "run.json") if (committed_dir / "run.json").is_file() else {}
    rerun_info = read_json(rerun_dir / "run.json")
    out["same_code"] = committed_info.get("code") == rerun_info.get("code")
    out["same_kernels"] = committed_info.get("kernels") == rerun_info.get("kernels")

    committed = read_csv(committed_file, ["episode", *COMPARED_COLUMNS])
    rerun = read_csv(rerun_file, ["episode", *COMPARED_COLUMNS])
    if len(committed) != len(rerun):
        raise BenchError(f"{rerun_file}: {len(rerun)} episodes against the committed {len(committed)}; "
                         f"the evaluation protocols differ")
    scale = 100.0 if metric == "success" else 1.0
    scores = {name: episode_scores(frame, metric, path) * scale
              for name, frame, path in (("committed", committed, committed_file), ("rerun", rerun, rerun_file))}
    _, interval = bootstrap(scores["committed"].reshape(-1, 1), _mean, reps, seed)
    low, high = float(interval[0, 0]), float(interval[1, 0])
    out.update({
        "metric": metric, "committed_score": float(np.mean(scores["committed"])),
        "rerun_score": float(np.mean(scores["rerun"])), "committed_ci95": [low, high],
        "inside_ci": bool(low <= np.mean(scores["rerun"]) <= high),
        "max_abs_return_diff": float(np.max(np.abs(committed["return"].to_numpy(float)
                                                   - rerun["return"].to_numpy(float)))),
        "episodes_differing": int(np.sum(np.any(committed[list(COMPARED_COLUMNS)].to_numpy(float)
                                                != rerun[list(COMPARED_COLUMNS)].to_numpy(float), axis=1))),
    })
    return out


def describe_run(row: dict) -> str:
    if row["bit_identical"]:
        return f"{row['run']}: bit-identical ({row['metric']} {row['rerun_score']:.4g})"
    why = "" if row["same_code"] and row["same_kernels"] else (
        " (rerun under " + " and ".join(w for w, same in (("other code", row["same_code"]),
                                                           ("other kernels", row["same_kernels"])) if not same)
        + " than the committed run: a difference is expected)")
    low, high = row["committed_ci95"]
    return (f"{row['run']}: differs{why}: {row['episodes_differing']} episodes differ, largest return "
            f"difference {row['max_abs_return_diff']:.4g}; {row['metric']} {row['rerun_score']:.4g} against "
            f"{row['committed_score']:.4g}, {'inside' if row['inside_ci'] else 'OUTSIDE'} the committed "
            f"run's 95% CI [{low:.4g}, {high:.4g}]")


def report(datasets: list[dict], runs: list[dict], committed_root: str, rerun_root: str) -> str:
    lines = [f"# verify: {rerun_root} against {committed_root}", "", "## Datasets (regenerated)", ""]
    lines += [f"- {d['task']}: against the committed summary: {d['committed']}; against the shipped card: "
              f"{d['shipped']}" for d in datasets]
    lines += ["", "## Runs (rerun from the regenerated datasets)", ""]
    lines += [f"- {describe_run(row)}" for row in runs]
    return "\n".join(lines) + "\n"


def verify(committed_root: Path, rerun_root: Path, tasks: list[str], runs: list[str], reps: int,
           seed: int) -> tuple[str, dict]:
    """Compare each task's regenerated dataset and each run `<task>/<method>/seed<k>`; returns the
    report's Markdown and its data."""
    datasets = [compare_dataset(t, committed_root / "data" / f"{t}.json", rerun_root / "data" / f"{t}.json")
                for t in tasks]
    rows = []
    for run in runs:
        task = run.split("/")[0]
        metric = read_json(rerun_root / "data" / f"{task}.json").get("metric")
        if metric not in ("success", "return"):
            raise BenchError(f"{rerun_root / 'data' / f'{task}.json'}: field 'metric' is {metric!r}")
        rows.append(compare_run(committed_root / "runs" / run, rerun_root / "runs" / run, metric, reps, seed))
    return report(datasets, rows, str(committed_root), str(rerun_root)), {"datasets": datasets, "runs": rows}
