"""The report's data table: per task, the suite's demonstrations beside the authors' published ones.

The suite's side comes from each dataset's summary (results/<budget>/data/<task>.json, `statistics`,
written by the data stage); the authors' from `demonstrations` in config/paper_results.yaml. A
missing number is shown as '-' (the authors' hand_rotate file is not public; summaries written
before the statistics were recorded have none).
"""
from __future__ import annotations

import math
import os
from typing import Iterable

import pandas as pd

from analysis.labels import Registry
from analysis.tables import format_number
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json, read_yaml

COLUMNS = ["task", "data", "episodes", "transitions", "length mean (min-max)", "action std (min-max over dims)",
           "|a| >= 1 (%)", "|a| > 1 (%)", "action range", "mean |a_t+1 - a_t| (min-max over dims)",
           "forward speed", "expert score"]


def _number(value, digits: int = 0) -> str:
    return format_number(float(value), digits) if value is not None else "-"


def _range(values: list[float] | None, digits: int = 2) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return format_number(low, digits) if low == high else f"{low:.{digits}f}-{high:.{digits}f}"


def _percent(value) -> str:
    return "-" if value is None else format_number(100.0 * float(value), 1)


def _row(task: str, label: str, stats: dict, expert: str) -> dict:
    lengths = "-" if stats.get("length_mean") is None else (
        f"{float(stats['length_mean']):.1f} ({_number(stats.get('length_min'))}-{_number(stats.get('length_max'))})")
    return {"task": task, "data": label, "episodes": _number(stats.get("episodes")),
            "transitions": _number(stats.get("transitions")), "length mean (min-max)": lengths,
            "action std (min-max over dims)": _range(stats.get("action_std")),
            "|a| >= 1 (%)": _percent(stats.get("action_at_or_beyond_1")),
            "|a| > 1 (%)": _percent(stats.get("action_beyond_1")),
            "action range": ("-" if stats.get("action_min") is None else
                             f"{float(stats['action_min']):.2f} to {float(stats['action_max']):.2f}"),
            "mean |a_t+1 - a_t| (min-max over dims)": _range(stats.get("action_change")),
            "forward speed": _number(stats.get("forward_speed"), 2), "expert score": expert}


def _suite_expert(summary: dict, detail: bool = True) -> str:
    if summary.get("metric") == "success":
        rate = summary.get("expert_raw_success_rate")
        return "-" if rate is None else f"success {100.0 * rate:.1f}%" + (" (every episode it tried)" if detail else "")
    stats = summary.get("statistics") or {}
    if detail and "return_min" in stats:
        return (f"return {summary.get('expert_mean_return', math.nan):.0f} "
                f"({stats['return_min']:.0f}-{stats['return_max']:.0f})")
    return f"return {summary.get('expert_mean_return', math.nan):.0f}"


def _authors_expert(stats: dict) -> str:
    if "return_min" in stats:
        return f"return {stats['return_min']:.0f}-{stats['return_max']:.0f}"
    return "-"


def load_summaries(reference_files: Iterable[str | os.PathLike]) -> dict[str, dict]:
    """Task -> its dataset summary (results/<budget>/data/<task>.json)."""
    summaries = {}
    for path in reference_files:
        summary = read_json(path)
        if "task" not in summary:
            raise BenchError(f"{path}: missing field 'task'")
        summaries[str(summary["task"])] = summary
    return summaries


def expert_note(summaries: dict[str, dict], registry: Registry = Registry()) -> str:
    """One line for the main table: each task's expert score on its own demonstrations, the ceiling
    that imitation can reach."""
    parts = [f"{registry.task_label(t)} {_suite_expert(summaries[t], detail=False)}"
             for t in registry.order_tasks(list(summaries))]
    return "Experts (the ceiling; over every episode they attempted): " + "; ".join(parts) + "."


def data_table(summaries: dict[str, dict], paper_results: str | os.PathLike,
               registry: Registry = Registry()) -> tuple[pd.DataFrame, list[str]]:
    """The table (strings) and its notes: the experts as each side describes them."""
    authors = read_yaml(paper_results).get("demonstrations") or {}
    if not isinstance(authors, dict):
        raise BenchError(f"{paper_results}: 'demonstrations' must map tasks to statistics")
    rows, notes = [], []
    for task in registry.order_tasks(list(summaries)):
        summary, theirs = summaries[task], authors.get(task) or {}
        stats = dict(summary.get("statistics") or {})
        stats.setdefault("transitions", summary.get("transitions"))
        stats.setdefault("episodes", summary.get("episodes_kept"))
        label = registry.task_label(task)
        rows.append(_row(label, "suite", stats, _suite_expert(summary)))
        rows.append(_row(label, "authors", theirs, _authors_expert(theirs)))
        notes.append(f"{label}: suite: {summary.get('expert', '-')}; authors: {theirs.get('expert', 'unknown')}")
    return pd.DataFrame(rows, columns=COLUMNS), notes
