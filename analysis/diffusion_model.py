"""Is DBC's diffusion model good enough to guide? The `dm_quality` and `dm_budget` reports.

dm_quality: per task, the model's held-out denoising loss and how well its per-pair loss ranks expert
pairs above perturbed, BC and shuffled ones (ROC AUC; methods/dm_quality.py measures them), and how
often the hinge would be above 0 at the BC policy's actions.
dm_budget: the same per diffusion-model variant (width, epochs, schedule), beside what DBC's training
with that model measured: the share of updates its term acted in, its final score, and DBC - BC with a
stratified-bootstrap CI and P(DBC > BC) over seeds (rliable, seeded).

Reads result files only (the quality JSONs, run.json and eval_final.csv through analysis.loading).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis.figures import save_pdf_png, with_title
from analysis.labels import Registry
from analysis.loading import load_references, load_run
from analysis.statistics import bootstrap, probability_of_improvement
from analysis.tables import display_scale, format_interval, format_mean_std, format_number, markdown_table
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json, write_csv_atomic, write_text_atomic

ALTERNATIVES = {"noise_0.1": "a + N(0, 0.1²)", "noise_0.3": "a + N(0, 0.3²)", "noise_1": "a + N(0, 1)",
                "bc": "BC's action", "shuffled": "shuffled a"}
QUALITY_NOTE = ("Per task, on the pairs the diffusion model's pre-training held out: its denoising loss (a model "
                "predicting zero noise scores 1.0), and the ROC AUC with which its per-pair loss (mean over the "
                "draws of t and noise, shared by every candidate action of a pair) ranks the expert's [s, a] above "
                "[s, a'] for each alternative a' (z-scored units; BC: each seed's final BC policy, averaged): 0.5 "
                "is no separation, 1 perfect. Hinge > 0 at BC: the share of 128-pair batches, one draw per pair as "
                "one training update draws, whose mean loss at BC's actions exceeds the expert's, i.e. how often "
                "DBC's term max(agent - expert, 0) would act at a BC-like policy.")


def column(key: str) -> str:
    """The table column of an alternative's AUC (no dots: pandas' itertuples needs identifiers)."""
    return "auc_" + key.replace(".", "")


def load_quality(files: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """One row per quality JSON: task, the model's settings, held-out loss, AUCs, hinge share."""
    rows = []
    for path in files:
        q = read_json(path)
        for key in ("task", "heldout_loss", "auc", "bc_hinge_positive_mean"):
            if key not in q:
                raise BenchError(f"{path}: not a dm_quality result (missing '{key}')")
        row = {"task": q["task"], "width": q.get("width"), "epochs": q.get("epochs"), "lr_decay": q.get("lr_decay"),
               "pairs": q.get("pairs"), "heldout_loss": float(q["heldout_loss"]),
               "hinge_bc": float(q["bc_hinge_positive_mean"]), "file": str(path)}
        for key in ALTERNATIVES:
            row[column(key)] = float(q["auc_bc_mean"]) if key == "bc" else float(q["auc"].get(key, math.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def _quality_cells(r) -> dict:
    return {"Held-out loss": format_number(r.heldout_loss, 3),
            **{f"AUC {label}": format_number(getattr(r, column(key)), 2) for key, label in ALTERNATIVES.items()},
            "Hinge > 0 at BC": f"{100 * r.hinge_bc:.0f}%" if math.isfinite(r.hinge_bc) else "-"}


def plot_auc(frame: pd.DataFrame, by: str, stem: str | os.PathLike, title: str) -> list[Path]:
    """AUC per alternative (x), one line per `by` value, one panel per task."""
    labels = {column(key): label for key, label in ALTERNATIVES.items()}
    long = frame.melt(id_vars=["task", by], value_vars=list(labels), var_name="alternative", value_name="AUC")
    long["alternative"] = long["alternative"].map(labels)
    tasks = list(dict.fromkeys(frame["task"]))
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks) + 1.6, 3.2), squeeze=False, sharey=True)
        for ax, task in zip(axes[0], tasks):
            sns.pointplot(long[long["task"] == task], x="alternative", y="AUC", hue=by, ax=ax, markers="o",
                          order=list(ALTERNATIVES.values()), legend=ax is axes[0][-1])
            ax.axhline(0.5, color="grey", linewidth=1, linestyle="--")
            ax.set_ylim(0.3, 1.02)
            ax.set_title(task, fontsize=9)
            ax.set_xlabel("")
            ax.tick_params(axis="x", rotation=40, labelsize=7)
        if axes[0][-1].get_legend() is not None:
            axes[0][-1].legend(frameon=False, fontsize=7, title=by, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.suptitle(with_title("Does the diffusion model rank expert actions first?", title), fontsize=10)
        fig.tight_layout()
    return save_pdf_png(fig, stem)


def write_quality_report(files: Iterable[str | os.PathLike], out: str | os.PathLike, title: str = "",
                         registry: Registry = Registry()) -> list[Path]:
    """dm_quality.csv, dm_quality.md and dm_quality.pdf/.png in `out`."""
    frame = load_quality(files)
    frame["task"] = pd.Categorical(frame["task"], registry.order_tasks(frame["task"].unique()), ordered=True)
    frame = frame.sort_values("task")
    frame["task"] = frame["task"].astype(str)
    table = pd.DataFrame([{"Task": registry.task_label(r.task), "Width": r.width, "Epochs": r.epochs,
                           "LR schedule": r.lr_decay, **_quality_cells(r)} for r in frame.itertuples()])
    out = Path(out)
    labelled = frame.assign(task=frame["task"].map(registry.task_label), model="budget")
    note = QUALITY_NOTE + (f" ({title})" if title else "")
    return [write_csv_atomic(out / "dm_quality.csv", frame.drop(columns=["file"])),
            write_text_atomic(out / "dm_quality.md",
                              f"# DBC's diffusion model: quality\n\n{markdown_table(table)}\n\n- {note}\n"),
            *plot_auc(labelled, "model", out / "dm_quality", title)]


def dbc_minus_bc(dbc: np.ndarray, bc: np.ndarray, reps: int, seed: int) -> tuple[float, float, float, float]:
    """(DBC - BC mean, its CI low, high; P(DBC > BC)) over seeds, stratified bootstrap."""
    point, ci = bootstrap((dbc.reshape(-1, 1), bc.reshape(-1, 1)), lambda x, y: np.array([x.mean() - y.mean()]),
                          reps, seed)
    poi = probability_of_improvement({"dbc": dbc.reshape(-1, 1), "bc": bc.reshape(-1, 1)}, "dbc", reps, seed)
    return float(point[0]), float(ci[0, 0]), float(ci[1, 0]), float(poi["estimate"].iloc[0])


def budget_table(quality: Mapping[str, list[str]], dbc_runs: Mapping[str, list[str]], bc_runs: list[str],
                 references: Mapping[str, dict], reps: int, seed: int) -> pd.DataFrame:
    """One row per (variant, task): the model's quality, and DBC's runs with that model against BC's."""
    bc = pd.DataFrame([load_run(d, references) for d in bc_runs])
    rows = []
    for variant, files in quality.items():
        q = load_quality(files).set_index("task")
        runs = pd.DataFrame([load_run(d, references) for d in dbc_runs[variant]])
        for task, at_task in runs.groupby("task", sort=False):
            scale = display_scale(str(at_task["metric"].iloc[0]))
            dbc_scores = at_task.sort_values("seed")["final_raw"].to_numpy(float) * scale
            bc_scores = bc[bc["task"] == task].sort_values("seed")["final_raw"].to_numpy(float) * scale
            if not len(bc_scores):
                raise BenchError(f"dm_budget: no BC run on {task} to set DBC beside")
            diff, lo, hi, poi = dbc_minus_bc(dbc_scores, bc_scores, reps, seed)
            quality_row = q.loc[task]
            rows.append({"variant": variant, "task": task, **{k: quality_row[k] for k in q.columns if k != "file"},
                         "dm_active": float(at_task["dm_active"].mean()), "seeds": len(dbc_scores),
                         "dbc_mean": float(dbc_scores.mean()),
                         "dbc_std": float(dbc_scores.std(ddof=1)) if len(dbc_scores) > 1 else math.nan,
                         "bc_mean": float(bc_scores.mean()), "dbc_minus_bc": diff, "dbc_minus_bc_low": lo,
                         "dbc_minus_bc_high": hi, "p_dbc_gt_bc": poi})
    return pd.DataFrame(rows)


def write_budget_report(quality: Mapping[str, list[str]], dbc_runs: Mapping[str, list[str]], bc_runs: list[str],
                        reference_files: Iterable[str | os.PathLike], out: str | os.PathLike, reps: int, seed: int,
                        title: str = "", registry: Registry = Registry()) -> list[Path]:
    """dm_budget.csv, dm_budget.md and dm_budget.pdf/.png (AUCs) and dm_budget_activity.pdf/.png in `out`."""
    table = budget_table(quality, dbc_runs, bc_runs, load_references(reference_files), reps, seed)
    shown = pd.DataFrame([{
        "Task": registry.task_label(r.task), "Variant": r.variant, "Width": r.width, "Epochs": r.epochs,
        "LR schedule": r.lr_decay, **_quality_cells(r),
        "DM term active (DBC training)": f"{100 * r.dm_active:.0f}%" if math.isfinite(r.dm_active) else "-",
        "DBC mean ± std": format_mean_std(r.dbc_mean, r.dbc_std, 1), "BC mean": format_number(r.bc_mean, 1),
        "DBC - BC [95% CI]": format_interval(r.dbc_minus_bc, r.dbc_minus_bc_low, r.dbc_minus_bc_high, 1),
        "P(DBC > BC)": format_number(r.p_dbc_gt_bc, 2)} for r in table.itertuples()])
    notes = [QUALITY_NOTE,
             "DM term active: the share of DBC's training updates (all of them, over its seeds) whose term was "
             "above 0. "
             "DBC - BC: final policy, success in % (return raw), mean over seeds, with a stratified-bootstrap 95% CI "
             f"and P(DBC > BC), {reps} replications, numpy seed {seed}; BC is the budget's own runs (BC does not "
             f"use the model).{' ' + title if title else ''}"]
    out = Path(out)
    (out).mkdir(parents=True, exist_ok=True)
    body = "\n".join(f"- {n}" for n in notes)
    written = [write_csv_atomic(out / "dm_budget.csv", table),
               write_text_atomic(out / "dm_budget.md",
                                 f"# Where DBC's diffusion-model term starts to act\n\n{markdown_table(shown)}\n\n"
                                 f"{body}\n"),
               *plot_auc(table.assign(task=table["task"].map(registry.task_label)), "variant", out / "dm_budget",
                         title)]
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(5.6, 3.4))
        shown_tasks = table.assign(task=table["task"].map(registry.task_label))
        sns.scatterplot(shown_tasks, x="hinge_bc", y="dm_active", hue="variant", style="task", s=60, ax=ax)
        ax.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--")
        ax.set_xlabel("hinge > 0 at BC's actions (model alone)")
        ax.set_ylabel("DM term active in DBC training")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.suptitle(with_title("DBC's term: predicted and measured", title), fontsize=10)
        fig.tight_layout()
    return written + save_pdf_png(fig, out / "dm_budget_activity")
