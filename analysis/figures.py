"""The report's figures, each written as `<stem>.pdf` and `<stem>.png`, and the method colours.

Every figure is drawn from numbers alone (no random jitter) and saved without creation dates, so
a rerun writes identical files.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from analysis.labels import Registry  # noqa: E402
from analysis.statistics import AGGREGATE_LABELS, AGGREGATE_METRICS  # noqa: E402
from analysis.tables import display_scale  # noqa: E402
from dbc_bench.io import save_figure_atomic  # noqa: E402

# Seaborn's colour-blind palette reordered so that the first five (the main methods: BC, DBC, Implicit BC,
# Diffusion Policy, GAIL) are five hue families (blue, orange, green, pink, grey), then its remaining entries
# (vermillion, tan, light pink, yellow, light blue: each the family of an earlier one, for the variants).
COLORBLIND_ORDER = (0, 1, 2, 4, 7, 3, 5, 6, 8, 9)
PALETTE_SIZE = len(COLORBLIND_ORDER)


def method_palette(methods: Iterable[str], registry: Registry = Registry()) -> dict[str, tuple[float, float, float]]:
    """Fixed colour-blind colours: a registry method always takes the colour at its position in
    the registry; other methods take the following palette entries in alphabetical order
    (cycling after 26, for registry methods too)."""
    # colour-blind safe first; the generative-model ablation's methods take the next palettes' colours
    colorblind = sns.color_palette("colorblind", PALETTE_SIZE)
    colours = [*(colorblind[i] for i in COLORBLIND_ORDER), *sns.color_palette("Dark2", 8),
               *sns.color_palette("Set2", 8)]
    canonical = list(registry.methods)
    out = {}
    extra = 0
    for m in registry.order_methods(methods):
        if m in canonical:
            out[m] = tuple(colours[canonical.index(m) % len(colours)])
        else:
            out[m] = tuple(colours[(len(canonical) + extra) % len(colours)])
            extra += 1
    return out


def score_axis_label(metric: str) -> str:
    return "success rate (%)" if metric == "success" else "return"


def with_title(head: str, title: str | None) -> str:
    """The figure's heading, with the report's title (e.g. the budget) in parentheses."""
    return f"{head} ({title})" if title else head


def save_pdf_png(fig, stem: str | os.PathLike) -> list[Path]:
    """Write `<stem>.pdf` and `<stem>.png` and close the figure."""
    stem = Path(stem)
    try:
        return [save_figure_atomic(fig, stem.with_name(stem.name + ext)) for ext in (".pdf", ".png")]
    finally:
        plt.close(fig)


def interval_mark(ax, y: float, estimate: float, low: float, high: float, colour) -> None:
    """A CI as a bar and its point estimate as a black-edged diamond: an interval of zero width (all seeds
    agree) is still drawn, as the diamond."""
    ax.barh(y, high - low, left=low, height=0.6, color=colour, alpha=0.8)
    ax.vlines(estimate, y - 0.3, y + 0.3, color="black", linewidth=1.5)
    ax.plot([estimate], [y], marker="D", markersize=5, color=colour, markeredgecolor="black", linestyle="",
            zorder=4)


def plot_aggregate_intervals(agg: pd.DataFrame, palette: Mapping[str, tuple], stem: str | os.PathLike,
                             title: str | None = None, confidence: float = 0.95,
                             registry: Registry = Registry()) -> list[Path]:
    """Interval plot: one panel per aggregate metric, method on y, normalised score on x, a bar
    for the CI and a tick for the point estimate."""
    methods = registry.order_methods(agg["method"].unique())
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(AGGREGATE_METRICS), sharey=True,
                                 figsize=(3.0 * len(AGGREGATE_METRICS), 0.5 * max(len(methods), 1) + 1.6))
        for ax, metric in zip(axes, AGGREGATE_METRICS):
            sub = agg[agg["metric"] == metric].set_index("method")
            for i, method in enumerate(methods):
                y = len(methods) - 1 - i
                r = sub.loc[method]
                interval_mark(ax, y, r.estimate, r.ci_low, r.ci_high, palette[method])
            ax.set_title(AGGREGATE_LABELS[metric] + (" (lower is better)" if metric == "optimality_gap" else ""),
                         fontsize=10)
            ax.set_xlabel("normalised score")
            ax.grid(axis="y", visible=False)
            if not methods:
                ax.text(0.5, 0.5, "no methods", transform=ax.transAxes, ha="center")
        axes[0].set_yticks(range(len(methods)))
        axes[0].set_yticklabels([registry.method_label(m) for m in reversed(methods)])
        axes[0].set_ylim(-0.6, len(methods) - 0.4)
        head = f"Aggregate normalised final scores, {confidence * 100:g}% stratified-bootstrap CIs"
        fig.suptitle(with_title(head, title), fontsize=11)
        fig.tight_layout()
    return save_pdf_png(fig, stem)


def plot_per_task_scores(df: pd.DataFrame, palette: Mapping[str, tuple], stem: str | os.PathLike,
                         kind: str = "final", paper: Mapping[tuple[str, str], tuple[float, float]] | None = None,
                         title: str | None = None, registry: Registry = Registry()) -> list[Path]:
    """One panel per task: each seed's `kind` score as a point, the mean over seeds as a black
    bar and the paper's mean as a cross where published."""
    paper = paper or {}
    tasks = registry.order_tasks(df["task"].unique())
    column = f"{kind}_raw"
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3.6), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            at_task = df[df["task"] == task]
            metric = str(at_task["metric"].iloc[0])
            scale = display_scale(metric)
            methods = registry.order_methods(at_task["method"].unique())
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
            ax.set_xticklabels([registry.method_label(m) for m in methods], rotation=30, ha="right")
            ax.set_xlim(-0.6, len(methods) - 0.4)
            ax.set_title(registry.task_label(task), fontsize=10)
            ax.set_ylabel(score_axis_label(metric))
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
        fig.suptitle(with_title(head, title), fontsize=11)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save_pdf_png(fig, stem)


def plot_performance_profiles(profiles: pd.DataFrame, palette: Mapping[str, tuple], stem: str | os.PathLike,
                              title: str | None = None, confidence: float = 0.95,
                              registry: Registry = Registry()) -> list[Path]:
    """Score distributions (fraction of runs with normalised score > tau) per method, with the
    bootstrap CI as a band."""
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(5.2, 3.6))
        for method in registry.order_methods(profiles["method"].unique()):
            sub = profiles[profiles["method"] == method]
            ax.plot(sub["tau"], sub["estimate"], color=palette[method], linewidth=2,
                    label=registry.method_label(method))
            ax.fill_between(sub["tau"], sub["ci_low"], sub["ci_high"], color=palette[method], alpha=0.2,
                            linewidth=0)
        ax.set_xlabel(r"normalised score $\tau$")
        ax.set_ylabel(r"fraction of runs with score $> \tau$")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(frameon=False, fontsize=8, loc="lower left")
        ax.set_title(with_title(f"Performance profiles, {confidence * 100:g}% CI bands", title), fontsize=10)
        fig.tight_layout()
    return save_pdf_png(fig, stem)


def plot_improvement(improvement: pd.DataFrame, palette: Mapping[str, tuple], stem: str | os.PathLike,
                     title: str | None = None, confidence: float = 0.95,
                     registry: Registry = Registry()) -> list[Path]:
    """P(method > other) for each compared pair: the CI as a bar in the other method's colour,
    the estimate as a tick, and 0.5 (no difference) as a dashed line."""
    n = len(improvement)
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(5.2, 0.55 * max(n, 1) + 1.4))
        for i, r in enumerate(improvement.itertuples()):
            y = n - 1 - i
            interval_mark(ax, y, r.estimate, r.ci_low, r.ci_high, palette[r.other])
        ax.axvline(0.5, color="dimgray", linestyle="--", linewidth=1)
        ax.set_yticks(range(n))
        ax.set_yticklabels([f"P({registry.method_label(r.method)} > {registry.method_label(r.other)})"
                            for r in reversed(list(improvement.itertuples()))])
        ax.set_xlim(-0.03, 1.03)  # an interval at 0 or 1 stays inside the axes
        ax.set_ylim(-0.6, max(n, 1) - 0.4)
        ax.set_xlabel("probability of improvement")
        ax.grid(axis="y", visible=False)
        ax.set_title(with_title(f"Probability of improvement, {confidence * 100:g}% CIs", title), fontsize=10)
        fig.tight_layout()
    return save_pdf_png(fig, stem)


def plot_learning_curves(intervals: pd.DataFrame, metrics: Mapping[str, str], palette: Mapping[str, tuple],
                         stem: str | os.PathLike, title: str | None = None, confidence: float = 0.95,
                         registry: Registry = Registry(),
                         lengths: Mapping[tuple[str, str], str] | None = None) -> list[Path]:
    """One panel per task: the IQM over seeds at each evaluation during training against the
    fraction of training done, with the bootstrap CI as a band. `metrics` maps task -> metric;
    `lengths` (task, method) -> what 100% of training is for that cell ("9.3k updates"), shown in each
    panel's legend, since cells train for different lengths."""
    lengths = lengths or {}
    tasks = registry.order_tasks(intervals["task"].unique())
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(1, max(len(tasks), 1), figsize=(3.2 * max(len(tasks), 1), 3.4), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            at_task = intervals[intervals["task"] == task]
            scale = display_scale(metrics[task])
            for method in registry.order_methods(at_task["method"].unique()):
                sub = at_task[at_task["method"] == method].sort_values("point")
                length = lengths.get((task, method))
                ax.plot(sub["fraction"], sub["estimate"] * scale, marker="o", markersize=3, color=palette[method],
                        label=registry.method_label(method) + (f" ({length})" if length else ""))
                ax.fill_between(sub["fraction"], sub["ci_low"] * scale, sub["ci_high"] * scale,
                                color=palette[method], alpha=0.2, linewidth=0)
            ax.set_title(registry.task_label(task), fontsize=10)
            ax.set_xlabel("fraction of the cell's training")
            ax.set_ylabel(score_axis_label(metrics[task]))
            ax.legend(frameon=False, fontsize=6, loc="best")
        fig.suptitle(with_title(f"IQM over seeds during training, {confidence * 100:g}% CI bands", title),
                     fontsize=11)
        fig.tight_layout()
    return save_pdf_png(fig, stem)
