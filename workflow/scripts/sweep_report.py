"""Sensitivity of a method to one hyperparameter (the paper's lambda_DM sweep): final score per
task against the swept value, from the sweep's per-run table (scores.csv of make_report.py, whose
methods are named <method>@<key>=<value>).

Usage:
  python workflow/scripts/sweep_report.py --scores paper/default/lambda_sweep/scores.csv \\
      --out paper/default/lambda_sweep --title "budget: default"

Writes sensitivity.csv (task, value, mean, std, seeds), sensitivity.md and sensitivity.pdf/.png.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import scoring as sc
from methods import split_method
from methods.core import BenchError


def sweep_table(scores: pd.DataFrame, source: str) -> tuple[str, str, pd.DataFrame]:
    """(method, key, per task and value: mean, std and seed count of the final raw score)."""
    missing = {"task", "method", "seed", "metric", "final_raw"} - set(scores.columns)
    if missing:
        raise sc.ReportError(f"{source}: missing columns {sorted(missing)}")
    try:
        specs = {m: split_method(m) for m in scores["method"].unique()}
    except BenchError as exc:
        raise sc.ReportError(f"{source}: {exc}") from None
    names = {name for name, _ in specs.values()}
    keys = {tuple(overrides) for _, overrides in specs.values()}
    if len(names) != 1 or len(keys) != 1 or len(next(iter(keys))) != 1:
        raise sc.ReportError(f"{source}: a sweep needs methods '<method>@<key>=<value>' of one method and one "
                             f"key, got {sorted(specs)}")
    (method,), ((key,),) = names, keys
    values = {m: float(overrides[key]) for m, (_, overrides) in specs.items()}
    table = (scores.assign(value=scores["method"].map(values))
             .groupby(["task", "metric", "value"])["final_raw"]
             .agg(mean="mean", std=lambda x: x.std(ddof=1) if len(x) > 1 else 0.0, seeds="size").reset_index())
    table["task"] = pd.Categorical(table["task"], sc.order_tasks(table["task"].unique()), ordered=True)
    return method, key, table.sort_values(["task", "value"]).reset_index(drop=True)


def plot_sweep(table: pd.DataFrame, method: str, key: str, stem: Path, title: str) -> None:
    tasks = list(table["task"].cat.categories)
    colour = sc.method_palette([method])[method]
    with sc.sns.axes_style("whitegrid"):
        fig, axes = sc.plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.4), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            sub = table[table["task"] == task]
            scale = sc.display_scale(str(sub["metric"].iloc[0]))
            ax.errorbar(sub["value"], sub["mean"] * scale, yerr=sub["std"] * scale, color=colour, marker="o",
                        markersize=4, capsize=3, label=f"{sc.method_label(method)}, mean ± std over seeds")
            # the smallest nonzero value sets where the axis turns from linear (around 0) to log
            positive = sub["value"][sub["value"] > 0]
            ax.set_xscale("symlog", linthresh=float(positive.min()) if len(positive) else 1.0)
            ax.set_xlabel(key)
            ax.set_ylabel("success rate (%)" if scale == 100.0 else "return")
            ax.set_title(sc.task_label(task), fontsize=10)
        axes[0][0].legend(frameon=False, fontsize=8)
        fig.suptitle(f"Final score against {key} ({title})" if title else f"Final score against {key}", fontsize=11)
        fig.tight_layout()
    sc._save_pdf_png(fig, stem)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scores", required=True, type=Path, help="scores.csv of the sweep's report")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    try:
        if not args.scores.is_file():
            raise sc.ReportError(f"{args.scores}: file not found")
        scores = pd.read_csv(args.scores)
        method, key, table = sweep_table(scores, str(args.scores))
    except sc.ReportError as exc:
        print("sweep_report: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1
    shown = pd.DataFrame({
        "Task": [sc.task_label(t) for t in table["task"]],
        key: [f"{v:g}" for v in table["value"]],
        "Final score": [f"{m * sc.display_scale(k):.1f} ± {s * sc.display_scale(k):.1f}"
                        for m, s, k in zip(table["mean"], table["std"], table["metric"])],
        "Seeds": table["seeds"].astype(int),
    })
    best = table.loc[table.groupby("task", observed=True)["mean"].idxmax()]
    note = (f"{sc.method_label(method)} with {key} swept, all else as configured; final policy, mean ± std "
            f"over seeds (success in %, return raw){'; ' + args.title if args.title else ''}. Highest mean: "
            + ", ".join(f"{sc.task_label(t)} at {v:g}" for t, v in zip(best["task"], best["value"])) + ".")
    args.out.mkdir(parents=True, exist_ok=True)
    sc.atomic_write_csv(table, args.out / "sensitivity.csv")
    sc.atomic_write_text(args.out / "sensitivity.md",
                         f"# Sensitivity to {key}\n\n{sc.markdown_table(shown)}\n\n- {note}\n")
    plot_sweep(table, method, key, args.out / "sensitivity", args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
