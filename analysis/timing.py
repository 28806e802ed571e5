"""Where the DAG's time goes: a per-rule breakdown of a budget's Snakemake benchmark files
(results/<budget>/benchmarks/<rule>/...tsv; training also per method), with each job's wall and
CPU seconds and peak memory.

Sum of job wall seconds / cores is what the DAG needs at least on that many cores; jobs that ran
side by side on fewer cores than they asked for show inflated wall and lower CPU seconds.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from dbc_bench.errors import BenchError


def _selected(parts: tuple[str, ...], rules, tasks, methods) -> bool:
    """Whether a benchmark file (its path's parts: <rule>[/<task>[/<method>]]...) is in the selection;
    a file that names no task (or method) passes that filter."""
    rule = parts[0].removesuffix(".tsv")
    task = parts[1].removesuffix(".tsv") if len(parts) >= 2 else None
    method = parts[2].removesuffix(".tsv") if len(parts) >= 3 and rule in ("train", "measure_latency") else None
    return ((rules is None or rule in rules) and (tasks is None or task is None or task in tasks)
            and (methods is None or method is None or method in methods))


def load_benchmarks(bench_dir: str | os.PathLike, rules=None, tasks=None, methods=None) -> pd.DataFrame:
    """One row per benchmark file: stage (the rule; `train: <method>` for training), wall_s,
    cpu_s, max_rss_mb; optionally only those of some rules, tasks and methods (e.g. the `all`
    target's jobs, without the experiments' runs kept in the same folder)."""
    bench_dir = Path(bench_dir)
    rows = []
    for path in sorted(bench_dir.rglob("*.tsv")):
        parts = path.relative_to(bench_dir).parts
        if not _selected(parts, rules, tasks, methods):
            continue
        stage = parts[0].removesuffix(".tsv")
        if stage == "train" and len(parts) >= 3:
            stage = f"train: {parts[2]}"  # train/<task>/<method>/seed<k>.tsv
        try:
            frame = pd.read_csv(path, sep="\t")
            wall, cpu, rss = (float(frame[c].iloc[-1]) for c in ("s", "cpu_time", "max_rss"))
        except (KeyError, IndexError, ValueError, pd.errors.ParserError) as exc:
            raise BenchError(f"{path}: not a Snakemake benchmark file ({exc})") from None
        rows.append({"stage": stage, "wall_s": wall, "cpu_s": cpu, "max_rss_mb": rss})
    if not rows:
        raise BenchError(f"{bench_dir}: no benchmark files" + (" of the selected rules, tasks and methods"
                                                               if (rules, tasks, methods) != (None,) * 3 else ""))
    return pd.DataFrame(rows)


def breakdown(jobs: pd.DataFrame, cores: int) -> str:
    """Markdown table of the stages, most wall time first, and the totals at `cores` cores."""
    table = (jobs.groupby("stage").agg(jobs=("wall_s", "size"), wall_s=("wall_s", "sum"), mean_s=("wall_s", "mean"),
                                       max_s=("wall_s", "max"), cpu_s=("cpu_s", "sum"),
                                       max_rss_mb=("max_rss_mb", "max"))
             .sort_values("wall_s", ascending=False).reset_index())
    lines = ["| stage | jobs | wall s (sum) | mean s | max s | CPU s (sum) | peak RSS MB |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.stage} | {r.jobs} | {r.wall_s:.0f} | {r.mean_s:.0f} | {r.max_s:.0f} | {r.cpu_s:.0f} | "
              f"{r.max_rss_mb:.0f} |" for r in table.itertuples()]
    total, cpu = jobs["wall_s"].sum(), jobs["cpu_s"].sum()
    lines += ["", f"{len(jobs)} jobs; job wall time {total / 60:.1f} min in all, {total / 60 / cores:.1f} min at "
              f"{cores} jobs side by side; CPU time {cpu / 60:.1f} min ({cpu / 60 / cores:.1f} min on {cores} cores)."]
    return "\n".join(lines) + "\n"
