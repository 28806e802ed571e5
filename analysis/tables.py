"""Per-task statistics over seeds, and the report's tables as Markdown and LaTeX (booktabs).

Display units: success rates in percent, returns raw (`display_scale`).
"""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from analysis.labels import Registry
from analysis.loading import SCORE_KINDS
from analysis.statistics import AGGREGATE_LABELS, AGGREGATE_METRICS, bootstrap, iqm_vector
from dbc_bench.errors import BenchError

DM_ACTIVE_COLUMN = "DM term active, % of updates"
# Below this share of updates the term counts as inert: the run is BC in effect.
INERT_BELOW = 0.10


def dm_activity_note(table: pd.DataFrame, registry: Registry = Registry()) -> str:
    """One sentence on where DBC's diffusion-model term acted; '' where no run recorded it."""
    if "dm_active" not in table or not table["dm_active"].notna().any():
        return ""
    known = table[table["dm_active"].notna()]
    inert = [f"{registry.method_label(r.method)} on {registry.task_label(r.task)} ({100 * r.dm_active:.0f}%)"
             for r in known.itertuples() if r.dm_active < INERT_BELOW]
    text = (f"{DM_ACTIVE_COLUMN}: the share of training updates (all of them, counted in training) in which the "
            f"diffusion-model term max(agent loss - expert loss, 0) was above 0, mean over seeds. ")
    if inert:
        return text + (f"The term is inert (active in under {100 * INERT_BELOW:.0f}% of updates), so the run is BC "
                       f"in effect, for: {'; '.join(inert)}.")
    return text + f"It is active in at least {100 * INERT_BELOW:.0f}% of updates in every such row."


def display_scale(metric: str) -> float:
    """Factor from raw to table units: success rates are shown in percent."""
    return 100.0 if metric == "success" else 1.0


def paper_updates(length: Mapping | None, transitions) -> float:
    """Updates (GAIL: env steps) of the paper budget's run of the same data: epochs x ceil(N / batch),
    or env_steps. NaN where unknown."""
    if not length:
        return math.nan
    if "env_steps" in length:
        return float(length["env_steps"])
    if transitions is None or not math.isfinite(float(transitions)):
        return math.nan
    return float(length["epochs"] * math.ceil(float(transitions) / length["batch_size"]))


def per_task_table(df: pd.DataFrame, paper: Mapping[tuple[str, str], tuple[float, float]] | None,
                   reps: int, seed: int, kind: str = "final", confidence: float = 0.95,
                   ddof: int = 1, registry: Registry = Registry(),
                   paper_lengths: Mapping[str, Mapping[str, Mapping]] | None = None) -> pd.DataFrame:
    """One row per (task, method): mean, std (ddof) and IQM with bootstrap CI over seeds of the
    `kind` ("final" or "best") raw score in table units (success %, return raw), next to the
    paper's mean and std and the difference ours - paper (NaN where the paper has no number), and
    the runs' training length as a fraction of the paper budget's (`paper_lengths`: method -> task
    -> {epochs, batch_size} or {env_steps}; NaN where not given)."""
    if kind not in SCORE_KINDS:
        raise BenchError(f"kind must be one of {SCORE_KINDS}, got '{kind}'")
    paper = paper or {}
    column = f"{kind}_raw"
    rows = []
    for task in registry.order_tasks(df["task"].unique()):
        at_task = df[df["task"] == task]
        metric = str(at_task["metric"].iloc[0])
        scale = display_scale(metric)
        for method in registry.order_methods(at_task["method"].unique()):
            runs = at_task[at_task["method"] == method].sort_values("seed")
            vals = runs[column].to_numpy(float) * scale
            length = (paper_lengths or {}).get(method, {}).get(task)
            fractions = [r.last_update / paper_updates(length, r.transitions) for r in runs.itertuples()]
            n = vals.size
            point, interval = bootstrap(vals.reshape(-1, 1), iqm_vector, reps, seed, confidence)
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
                "paper_fraction": float(sum(fractions) / len(fractions)) if fractions else math.nan,
                "dm_active": float(runs["dm_active"].mean()) if "dm_active" in runs else math.nan,
            })
    return pd.DataFrame(rows)


def format_number(x: float | None, digits: int, sign: bool = False) -> str:
    """`x` with `digits` decimals ('-' when missing or not finite)."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def format_fraction(x: float) -> str:
    """A fraction as a percentage with two significant digits ('-' when missing)."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{100 * x:.2g}%" if x < 1 else f"{100 * x:.0f}%"


def format_mean_std(mean: float, std: float, digits: int) -> str:
    """'mean ± std', the mean alone without a finite std, '-' without a mean."""
    if not math.isfinite(mean):
        return "-"
    if not math.isfinite(std):
        return format_number(mean, digits)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_interval(est: float, lo: float, hi: float, digits: int) -> str:
    return f"{est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def format_task_table(table: pd.DataFrame, confidence: float = 0.95, digits: int = 1,
                      registry: Registry = Registry()) -> pd.DataFrame:
    """Display strings for a per_task_table (task and method labels, '-' where missing)."""
    pct = f"{confidence * 100:g}%"
    # Shown where some run recorded it (DBC's family): how often its diffusion-model term acted.
    activity = "dm_active" in table and bool(table["dm_active"].notna().any())
    rows = []
    for r in table.itertuples(index=False):
        unit = "success %" if r.metric == "success" else "return"
        rows.append({
            "Task": f"{registry.task_label(r.task)} ({unit})",
            "Method": registry.method_label(r.method),
            "Seeds": str(r.n_seeds),
            "Ours mean ± std": format_mean_std(r.mean, r.std, digits),
            f"Ours IQM [{pct} CI]": format_interval(r.iqm, r.iqm_ci_low, r.iqm_ci_high, digits),
            "Paper mean ± std": format_mean_std(r.paper_mean, r.paper_std, digits),
            "Ours - Paper": format_number(r.diff, digits, sign=True),
            "Updates / paper's": format_fraction(r.paper_fraction),
            **({DM_ACTIVE_COLUMN: format_number(100 * r.dm_active, 0)} if activity else {}),
        })
    return pd.DataFrame(rows)


def format_aggregate_table(agg: pd.DataFrame, confidence: float = 0.95, digits: int = 3,
                           registry: Registry = Registry()) -> pd.DataFrame:
    """One row per method, one '<estimate> [low, high]' column per aggregate metric."""
    pct = f"{confidence * 100:g}%"
    rows = []
    for method in registry.order_methods(agg["method"].unique()):
        sub = agg[agg["method"] == method].set_index("metric")
        row = {"Method": registry.method_label(method)}
        for metric in AGGREGATE_METRICS:
            if metric in sub.index:
                s = sub.loc[metric]
                row[f"{AGGREGATE_LABELS[metric]} [{pct} CI]"] = format_interval(s.estimate, s.ci_low, s.ci_high,
                                                                                digits)
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


LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$",
}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


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
