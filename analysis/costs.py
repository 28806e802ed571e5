"""Compute cost per task and method: each run's timing.json, DBC's diffusion-model pre-training
and the inference latency files of evaluate_policy.py --latency-out."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from analysis.labels import Registry
from analysis.loading import finite_number
from analysis.tables import format_number
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json

LATENCY_COLUMNS = ["task", "method", "batch", "latency_ms_batch1", "latency_ms_batched"]


def hardware_note(run_dirs: Iterable[str | os.PathLike]) -> str:
    """The machines the timings come from, in one line: each run's recorded CPU and Python (run.json
    provenance), not the machine that renders the report, so a re-render writes the same line."""
    cpus, pythons = set(), set()
    for run_dir in map(Path, run_dirs):
        provenance = read_json(run_dir / "run.json").get("provenance") or {}
        cpus.add(provenance.get("cpu") or "CPU not recorded")
        pythons.add((provenance.get("versions") or {}).get("python") or "not recorded")
    return f"{', '.join(sorted(cpus))}; Python {', '.join(sorted(pythons))} (the runs' records)"


def load_latencies(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Inference latency files (evaluate_policy.py --latency-out): task, method, batch,
    latency_ms_batch1, latency_ms_batched."""
    rows = []
    for path in map(Path, paths):
        record = read_json(path)
        row = {key: record.get(key) for key in ("task", "method")}
        for key in ("batch", "latency_ms_batch1", "latency_ms_batched"):
            row[key] = finite_number(record.get(key), path, key)
        if None in (row["task"], row["method"]):
            raise BenchError(f"{path}: missing field 'task' or 'method'")
        rows.append(row)
    return pd.DataFrame(rows, columns=LATENCY_COLUMNS)


def cost_table(df: pd.DataFrame, latencies: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per task and method, means over seeds of each run's timing.json; its pre-training stages (DBC's
    diffusion model: one model per task, shared by its seeds) are listed and added to its total.
    With `latencies` (load_latencies), the inference latency per action of each task and method."""
    rows = []
    for run_dir in map(Path, df["run_dir"]):
        timing = read_json(run_dir / "timing.json")
        meta = read_json(run_dir / "run.json")
        # Runs record their pre-trained inputs under "inputs" (before: "context"): each stage's model.pt,
        # beside its timing.json.
        inputs = meta.get("inputs") or meta.get("context") or {}
        pre = sum(float(read_json(Path(path).parent / "timing.json").get("wall_seconds", float("nan")))
                  for path in inputs.values())
        rows.append({"task": meta["task"], "method": meta["method"], "device": meta.get("device", ""),
                     "threads": meta.get("threads", ""),
                     "pretrain_s": pre, "train_s": timing["train_seconds"], "eval_s": timing["eval_seconds"],
                     "wall_s": timing["wall_seconds"], "updates_per_s": timing["updates_per_second"],
                     "peak_rss_mb": timing["peak_rss_mb"]})
    frame = pd.DataFrame(rows)
    table = (frame.groupby(["task", "method", "device", "threads"], sort=False)
             .agg(seeds=("train_s", "size"), pretrain_s=("pretrain_s", "mean"), train_s=("train_s", "mean"),
                  eval_s=("eval_s", "mean"), wall_s=("wall_s", "mean"), updates_per_s=("updates_per_s", "mean"),
                  peak_rss_mb=("peak_rss_mb", "max"))
             .reset_index())
    # Total per seed: its own job plus an equal share of the task's shared pre-training.
    table["total_min_per_seed"] = (table["wall_s"] + table["pretrain_s"] / table["seeds"]) / 60
    latencies = load_latencies([]) if latencies is None else latencies
    return table.merge(latencies, on=["task", "method"], how="left")


def format_cost_table(table: pd.DataFrame, registry: Registry = Registry()) -> pd.DataFrame:
    """Display strings of a cost_table ('-' where not measured)."""
    return pd.DataFrame({
        "Task": table["task"].map(registry.task_label), "Method": table["method"].map(registry.method_label),
        "Seeds": table["seeds"], "Device (threads)": [f"{d} ({t})" for d, t in zip(table["device"], table["threads"])],
        "Pre-training (s)": [format_number(x, 0) if x > 0 else "-" for x in table["pretrain_s"]],
        "Training (s/seed)": [format_number(x, 0) for x in table["train_s"]],
        "Evaluation (s/seed)": [format_number(x, 0) for x in table["eval_s"]],
        "Updates/s": [format_number(x, 0) for x in table["updates_per_s"]],
        "Peak RSS (MB)": [format_number(x, 0) for x in table["peak_rss_mb"]],
        "Latency (ms/action, 1 env)": [format_number(x, 3) for x in table["latency_ms_batch1"]],
        "Latency (ms/batch)": ["-" if pd.isna(x) else f"{format_number(x, 2)} ({int(b)} envs)"
                               for x, b in zip(table["latency_ms_batched"], table["batch"])],
        "Total (min/seed)": [format_number(x, 1) for x in table["total_min_per_seed"]],
    })
