"""The paper's experiments beyond the main table:

- FetchPick generalisation: the success of each trained policy when the initial object and goal
  sampling box is scaled by a noise ratio r, beside the paper's table (generalization.*);
- sensitivity to one hyperparameter (the lambda_DM sweep): the final score per task against the
  swept value (sensitivity.*). The value of each run is read from its run.json ("config" holds
  the resolved hyperparameters), never parsed from the run's name.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.figures import method_palette, save_pdf_png, score_axis_label, with_title
from analysis.labels import Registry
from analysis.loading import finite_number, read_csv
from analysis.tables import display_scale, latex_table, markdown_table
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json, read_yaml, write_csv_atomic, write_text_atomic

EVAL_NAME = re.compile(r"(?P<method>[^/]+)/seed(?P<seed>\d+)/r(?P<ratio>[0-9.]+)\.csv$")


# --------------------------------------------------------------------------- generalisation


def load_generalization(files: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Evaluation files named <...>/<method>/seed<k>/r<ratio>.csv (one row per episode, from
    evaluate_policy.py) -> method, seed, ratio, success (%), episodes."""
    rows = []
    for f in files:
        match = EVAL_NAME.search(Path(f).as_posix())
        if not match:
            raise BenchError(f"{f}: expected a path ending in <method>/seed<k>/r<ratio>.csv")
        frame = read_csv(f, ["success"])
        rows.append({"method": match["method"], "seed": int(match["seed"]), "ratio": float(match["ratio"]),
                     "success": 100.0 * frame["success"].mean(), "episodes": len(frame)})
    if not rows:
        raise BenchError("no generalisation evaluation files given")
    return pd.DataFrame(rows)


def load_generalization_paper(path: str | os.PathLike) -> dict[tuple[str, float], tuple[float, float]]:
    """(method, ratio) -> (mean, std) of the paper's generalisation table (success in %)."""
    block = read_yaml(path).get("fetch_pick_generalisation", {}).get("results", {})
    return {(m, float(r)): (c["mean"], c["std"]) for m, cells in block.items() for r, c in cells.items()}


def generalization_table(stats: pd.DataFrame, paper: dict[tuple[str, float], tuple[float, float]],
                         registry: Registry = Registry()) -> pd.DataFrame:
    """One row per method, one 'ours (paper)' column per ratio, from the per (method, ratio)
    mean, std and size of the success."""
    table = []
    for m in registry.order_methods(stats["method"].unique()):
        row = {"Method": registry.method_label(m)}
        for r in sorted(stats["ratio"].unique()):
            cell = stats[(stats.method == m) & (stats.ratio == r)].iloc[0]
            ours = f"{cell['mean']:.1f} ± {0.0 if np.isnan(cell['std']) else cell['std']:.1f}"
            ref = paper.get((m, r))
            row[f"r = {r:g}"] = ours + (f" (paper {ref[0]:.1f} ± {ref[1]:.1f})" if ref else " (paper -)")
        table.append(row)
    return pd.DataFrame(table)


def plot_generalization(stats: pd.DataFrame, paper: dict[tuple[str, float], tuple[float, float]],
                        stem: str | os.PathLike, title: str = "", registry: Registry = Registry()) -> list[Path]:
    """Success against the noise ratio per method, mean ± std over seeds as a band, the paper's
    means dashed."""
    methods = registry.order_methods(stats["method"].unique())
    palette = method_palette(methods, registry)
    ratios = sorted(stats["ratio"].unique())
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in methods:
        s = stats[stats.method == m].sort_values("ratio")
        ax.plot(s["ratio"], s["mean"], marker="o", color=palette[m], label=registry.method_label(m))
        ax.fill_between(s["ratio"], s["mean"] - s["std"].fillna(0), s["mean"] + s["std"].fillna(0),
                        color=palette[m], alpha=0.2)
        ref = [(r, paper[(m, r)][0]) for r in ratios if (m, r) in paper]
        if ref:
            ax.plot(*zip(*ref), linestyle="--", color=palette[m], alpha=0.7)
    ax.set_xlabel("noise ratio r of the initial object and goal sampling")
    ax.set_ylabel("success rate (%)")
    ax.set_title("FetchPick generalisation (dashed: paper)" + (f"\n{title}" if title else ""))
    ax.legend()
    return save_pdf_png(fig, stem)


def write_generalization_report(eval_files: Iterable[str | os.PathLike], paper_results: str | os.PathLike,
                                out: str | os.PathLike, title: str = "",
                                registry: Registry = Registry()) -> list[Path]:
    """generalization.csv (per method and ratio: mean, std, size), .md, .tex, .pdf and .png."""
    df = load_generalization(eval_files)
    paper = load_generalization_paper(paper_results)
    stats = df.groupby(["method", "ratio"])["success"].agg(["mean", "std", "size"]).reset_index()
    table = generalization_table(stats, paper, registry)
    episodes = "/".join(str(n) for n in sorted(df["episodes"].unique()))
    note = (f"FetchPick success (%) of the final policies, mean ± std over seeds, {episodes} episodes each, "
            f"demonstrations collected at r = 1{'; ' + title if title else ''}.")
    out = Path(out)
    return [write_csv_atomic(out / "generalization.csv", stats),
            write_text_atomic(out / "generalization.md",
                              f"# FetchPick generalisation\n\n{markdown_table(table)}\n\n- {note}\n"),
            write_text_atomic(out / "generalization.tex", latex_table(table, caption=note, label="tab:generalization")),
            *plot_generalization(stats, paper, out / "generalization", title, registry)]


# --------------------------------------------------------------------------- sensitivity


def load_sweep(scores_path: str | os.PathLike, key: str) -> pd.DataFrame:
    """A sweep's per-run table (scores.csv of its report) with the swept `key`'s value of each run
    as column `value`, read from the run's run.json (its `run_dir` column). Within a task the runs
    must differ in `key` alone, so that the table shows the effect of `key` and nothing else."""
    scores = read_csv(scores_path, ["task", "method", "seed", "metric", "final_raw", "run_dir"])
    values, others = [], {}
    for task, run_dir in zip(scores["task"], scores["run_dir"]):
        meta_path = Path(run_dir) / "run.json"
        config = read_json(meta_path).get("config")
        if not isinstance(config, dict) or key not in config:
            raise BenchError(f"{meta_path}: no field 'config.{key}' (the swept hyperparameter)")
        values.append(finite_number(config[key], meta_path, f"config.{key}"))
        rest = {k: v for k, v in config.items() if k != key}
        first_path, first = others.setdefault(task, (meta_path, rest))
        differ = sorted(k for k in set(first) | set(rest) if first.get(k) != rest.get(k))
        if differ:
            raise BenchError(f"{scores_path}: runs {first_path.parent} and {meta_path.parent} differ in "
                             f"{', '.join(differ)}, not only in the swept '{key}'")
    return scores.assign(value=values)


def sweep_table(runs: pd.DataFrame, registry: Registry = Registry()) -> pd.DataFrame:
    """Per task (in the registry's order, a categorical column) and swept value: mean, std and
    seed count of the final raw score."""
    table = (runs.groupby(["task", "metric", "value"])["final_raw"]
             .agg(mean="mean", std=lambda x: x.std(ddof=1) if len(x) > 1 else 0.0, seeds="size").reset_index())
    table["task"] = pd.Categorical(table["task"], registry.order_tasks(table["task"].unique()), ordered=True)
    return table.sort_values(["task", "value"]).reset_index(drop=True)


def plot_sweep(table: pd.DataFrame, method: str, key: str, stem: str | os.PathLike, title: str = "",
               registry: Registry = Registry()) -> list[Path]:
    """One panel per task: the final score against the swept value, mean ± std over seeds."""
    tasks = list(table["task"].cat.categories)
    colour = method_palette([method], registry)[method]
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.4), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            sub = table[table["task"] == task]
            metric = str(sub["metric"].iloc[0])
            scale = display_scale(metric)
            ax.errorbar(sub["value"], sub["mean"] * scale, yerr=sub["std"] * scale, color=colour, marker="o",
                        markersize=4, capsize=3, label=f"{registry.method_label(method)}, mean ± std over seeds")
            # the smallest nonzero value sets where the axis turns from linear (around 0) to log
            positive = sub["value"][sub["value"] > 0]
            ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
            ax.set_xlabel(key)
            ax.set_ylabel(score_axis_label(metric))
            ax.set_title(registry.task_label(task), fontsize=10)
        axes[0][0].legend(frameon=False, fontsize=8)
        fig.suptitle(with_title(f"Final score against {key}", title), fontsize=11)
        fig.tight_layout()
    return save_pdf_png(fig, stem)


def write_sensitivity_report(scores_path: str | os.PathLike, method: str, key: str, out: str | os.PathLike,
                             title: str = "", registry: Registry = Registry()) -> list[Path]:
    """sensitivity.csv (task, metric, value, mean, std, seeds), .md, .pdf and .png of `method`
    (its label and colour) swept over `key`."""
    table = sweep_table(load_sweep(scores_path, key), registry)
    scales = table["metric"].map(display_scale)
    shown = pd.DataFrame({
        "Task": [registry.task_label(t) for t in table["task"]],
        key: [f"{v:g}" for v in table["value"]],
        "Final score": [f"{m * k:.1f} ± {s * k:.1f}" for m, s, k in zip(table["mean"], table["std"], scales)],
        "Seeds": table["seeds"].astype(int),
    })
    best = table.loc[table.groupby("task", observed=True)["mean"].idxmax()]
    note = (f"{registry.method_label(method)} with {key} swept, all else as configured; final policy, mean ± std "
            f"over seeds (success in %, return raw){'; ' + title if title else ''}. Highest mean: "
            + ", ".join(f"{registry.task_label(t)} at {v:g}" for t, v in zip(best["task"], best["value"])) + ".")
    out = Path(out)
    return [write_csv_atomic(out / "sensitivity.csv", table),
            write_text_atomic(out / "sensitivity.md",
                              f"# Sensitivity to {key}\n\n{markdown_table(shown)}\n\n- {note}\n"),
            *plot_sweep(table, method, key, out / "sensitivity", title, registry)]
