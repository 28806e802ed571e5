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


# --------------------------------------------------------------------------- generative-model ablation

GUIDES = {"ebm_model": "ebm", "vae_model": "vae", "gan_model": "gan", "diffusion_model": "dm"}
GUIDE_LABELS = {"ebm": "EBM", "vae": "VAE", "gan": "GAN", "dm": "DM"}


def load_guidance_runs(scores_path: str | os.PathLike) -> pd.DataFrame:
    """The ablation's per-run table (scores.csv of its report) with each run's guidance model (`guide`:
    ebm, vae, gan, dm, or '' for BC alone) and whether it kept the BC loss (`with_bc`), both read from
    its run.json (the input it was given, config lambda_bc), never from its name."""
    scores = read_csv(scores_path, ["task", "method", "seed", "metric", "final_raw", "run_dir"])
    guides, with_bc = [], []
    for run_dir in scores["run_dir"]:
        meta_path = Path(run_dir) / "run.json"
        meta = read_json(meta_path)
        inputs = [GUIDES[name] for name in meta.get("inputs", {}) if name in GUIDES]
        if len(inputs) > 1:
            raise BenchError(f"{meta_path}: more than one guidance model among its inputs")
        guides.append(inputs[0] if inputs else "")
        with_bc.append(finite_number(meta.get("config", {}).get("lambda_bc", 1.0), meta_path, "config.lambda_bc") > 0)
    return scores.assign(guide=guides, with_bc=with_bc)


def guidance_table(runs: pd.DataFrame, paper: dict) -> pd.DataFrame:
    """One row per guidance model (EBM, VAE, GAN, DM) and BC alone: mean ± std over seeds of the final
    success (%) without and with the BC loss, beside the paper's means."""
    rows = []
    for guide in [*GUIDE_LABELS, ""]:
        row = {"model": GUIDE_LABELS.get(guide, "BC alone")}
        for with_bc, column in ((False, "without BC loss"), (True, "with BC loss")):
            sub = runs[(runs["guide"] == guide) & (runs["with_bc"] == with_bc)]["final_raw"] * 100
            if guide == "" and not with_bc:
                row[column], row[f"{column} (paper)"] = "", ""
                continue
            row[column] = (f"{sub.mean():.1f} ± {sub.std(ddof=1) if len(sub) > 1 else 0.0:.1f} (n={len(sub)})"
                           if len(sub) else "-")
            published = (paper.get("bc_alone") if guide == "" else
                         paper.get("results", {}).get(guide, {}).get("with_bc" if with_bc else "without_bc"))
            row[f"{column} (paper)"] = f"{published:.1f}" if published is not None else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def plot_guidance(runs: pd.DataFrame, paper: dict, stem: str | os.PathLike, title: str = "") -> list[Path]:
    """Final success per guidance model, without / with the BC loss: ours as bars (mean, with the seeds
    as dots), the paper's as crosses; BC alone as lines."""
    guided = runs[runs["guide"] != ""]
    guided = guided.assign(model=guided["guide"].map(GUIDE_LABELS), success=guided["final_raw"] * 100,
                           loss=guided["with_bc"].map({False: "w/o BC", True: "with BC"}))
    order, hues = list(GUIDE_LABELS.values()), ["w/o BC", "with BC"]
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(7.6, 3.6))
        sns.barplot(guided, x="model", y="success", hue="loss", order=order, hue_order=hues, errorbar=None,
                    alpha=0.7, ax=ax)
        sns.stripplot(guided, x="model", y="success", hue="loss", order=order, hue_order=hues, dodge=True,
                      color="black", size=3, legend=False, ax=ax)
        for i, guide in enumerate(GUIDE_LABELS):
            for offset, key in ((-0.2, "without_bc"), (0.2, "with_bc")):
                published = paper.get("results", {}).get(guide, {}).get(key)
                if published is not None:
                    ax.scatter(i + offset, published, marker="x", color="crimson", zorder=5,
                               label="paper" if (i, key) == (0, "without_bc") else None)
        bc = runs[runs["guide"] == ""]["final_raw"] * 100
        if len(bc):
            ax.axhline(bc.mean(), color="grey", linewidth=1, label="BC alone (ours)")
        if paper.get("bc_alone") is not None:
            ax.axhline(paper["bc_alone"], color="crimson", linestyle="--", linewidth=1, label="BC alone (paper)")
        ax.set_xlabel("guidance model")
        ax.set_ylabel("Maze success (%)")
        ax.set_ylim(0, 105)
        # Beside the axes: inside, it hides the bars it labels.
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.suptitle(with_title("Generative-model ablation", title), fontsize=11)
        fig.tight_layout()
    return save_pdf_png(fig, stem)


def write_guidance_report(scores_path: str | os.PathLike, paper_results: str | os.PathLike, out: str | os.PathLike,
                          title: str = "") -> list[Path]:
    """guidance.csv (per run), guidance.md (the table beside the paper's) and guidance.pdf/.png."""
    runs = load_guidance_runs(scores_path)
    paper = read_yaml(paper_results).get("maze_guidance_ablation") or {}
    table = guidance_table(runs, paper)
    note = ("DBC's guidance term from each generative model of the expert [s, a] pairs (methods/guidance.py: the "
            "model's own loss on the agent's pair minus the expert's, clamped at 0), without (lambda_BC = 0) and "
            "with the BC loss; final policy, success in %, mean ± std over n seeds. Paper: means only "
            f"(config/paper_results.yaml){'; ' + title if title else ''}.")
    out = Path(out)
    return [write_csv_atomic(out / "guidance.csv", runs),
            write_text_atomic(out / "guidance.md",
                              f"# Generative-model ablation (Maze)\n\n{markdown_table(table)}\n\n- {note}\n"),
            *plot_guidance(runs, paper, out / "guidance", title)]
