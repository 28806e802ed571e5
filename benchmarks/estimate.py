"""What a budget's `all` would cost on the machine a speed benchmark ran on: hours per (task, method) and per
rule, from the benchmark's rates at the `paper` budget's sizes (benchmarks.bench) and the budget's lengths.

Per training run: its updates (epochs x batches of the task's dataset) at the trainer's measured updates/s
(GAIL: its env steps at the measured GAIL rate), plus its evaluations. An evaluation steps episodes x the
mean episode length of the committed default runs of that task and method, each step at the raw env rate,
and calls the policy at the evaluation's batch (envs.evaluation.Evaluation.envs_on): with 10 envs on the CPU
about once per 10 env steps; with every episode at once on a GPU once per step of the longest episode (the
task's time limit where an episode of those runs hit it), each call at the measured latency of that batch.
Per task, one diffusion-model pre-training at the measured pre-training rate. The pieces not timed (data
collection, the report, process start-up) are minutes against the hours estimated here. An entry with no
measured rate is left out and named.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

import envs
from benchmarks.trainers import CONFIG_DIR
from dbc_bench.io import read_json, read_yaml
from envs.evaluation import Evaluation
from methods import registry
from methods.config import resolve, resolve_stage

DEFAULT_RESULTS = CONFIG_DIR.parent / "results" / "default"  # the committed runs: dataset sizes, episode lengths


@dataclass
class Estimate:
    rows: list[dict] = field(default_factory=list)      # one per (task, method): hours per run, runs
    pretraining: list[dict] = field(default_factory=list)  # one per task
    missing: list[str] = field(default_factory=list)    # what had no measured rate

    def per_rule(self) -> dict[str, float]:
        """Hours of every run of each rule (training per method), in the order met."""
        out: dict[str, float] = {}
        for r in self.pretraining:
            out["pretrain_dm"] = out.get("pretrain_dm", 0.0) + r["hours"]
        for r in self.rows:
            key = f"train: {r['method']}"
            out[key] = out.get(key, 0.0) + r["hours_per_run"] * r["runs"]
        return out


def _by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in rows}


def episode_lengths(results: Path, task: str, method: str) -> tuple[float, float]:
    """(mean, longest) length of the committed runs' final evaluation episodes; the task's time limit for both
    where there are none."""
    files = sorted((results / "runs" / task / method).glob("seed*/eval_final.csv"))
    if not files:
        limit = float(envs.TASKS[task].max_episode_steps)
        return limit, limit
    lengths = pd.concat([pd.read_csv(f, usecols=["length"]) for f in files])["length"]
    return float(lengths.mean()), float(lengths.max())


def estimate(bench: dict, tasks: list[str], methods: list[str], seeds: int, budget: str = "paper",
             results: Path = DEFAULT_RESULTS, config_dir: Path = CONFIG_DIR) -> Estimate:
    device = str(bench["options"].get("device", "cpu"))
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    sections = read_yaml(budget_file).get("evaluation") or {}
    protocol = Evaluation(**{k: v for k, v in sections.items() if k in ("episodes", "num_envs", "points")})
    batch = protocol.envs_on(torch.device(device))
    trainers, latency = _by(bench["trainers"], "task", "method"), _by(bench["latency"], "task", "method")
    pretraining, env_rate = _by(bench.get("pretraining", []), "task"), _by(bench["evaluation"], "task")
    gail = _by(bench["gail"], "task")
    needs = {need for m in methods for need in registry.parse(m).method.needs}
    out = Estimate()
    for task in tasks:
        n = int(read_json(results / "data" / f"{task}.json")["transitions"])  # the dataset's size
        if (task,) not in env_rate:
            out.missing.append(f"{task}: evaluation (raw env rate)")
            continue
        step_s = 1.0 / env_rate[(task,)]["raw_env_steps_per_s"]
        out.missing += [f"{task}: {registry.stage(need).label} pre-training"
                        for need in sorted(needs - {"diffusion_model"})]
        if "diffusion_model" in needs:
            dm = resolve_stage(config_dir, budget, "diffusion_model", task)
            if (task,) in pretraining:
                updates = dm.total_updates(round(n * (1 - dm.holdout_fraction)))
                out.pretraining.append({"task": task, "updates": updates,
                                        "hours": updates / pretraining[(task,)]["updates_per_s"] / 3600})
            else:
                out.missing.append(f"{task}: diffusion-model pre-training")
        for method in methods:
            spec = registry.parse(method).method
            cfg = resolve(config_dir, budget, method, task)
            call = latency.get((task, method if not spec.online else "bc"))
            if spec.online:
                rate = gail.get((task,), {}).get("gail_env_steps_per_s")
                updates = cfg.env_steps
            else:
                rate = trainers.get((task, method), {}).get("suite_updates_per_s")
                updates = cfg.total_updates(n)
            if rate is None or call is None or f"latency_ms_batch{batch}" not in call:
                out.missing.append(f"{task}: {method}")
                continue
            mean_length, longest = episode_lengths(results, task, method)
            call_s = call[f"latency_ms_batch{batch}"] / 1e3
            calls = longest if batch >= protocol.episodes else protocol.episodes * mean_length / batch
            eval_s = protocol.points * (protocol.episodes * mean_length * step_s + calls * call_s)
            train_s = updates / rate
            out.rows.append({"task": task, "method": method, "updates": updates, "train_hours": train_s / 3600,
                             "eval_hours": eval_s / 3600, "hours_per_run": (train_s + eval_s) / 3600,
                             "runs": seeds})
    return out


def render(est: Estimate, bench: dict, budget: str, cores: int) -> str:
    opts = bench["options"]
    lines = [f"# `{budget}` budget: estimated cost on {opts.get('device', 'cpu')} "
             f"({opts.get('device_name', 'CPU, one thread')})", "",
             "From the speed benchmark's rates at the paper budget's sizes (`benchmarks/estimate.py` says how); "
             "one job per device at a time on a GPU, one thread per job on a CPU.", "",
             "| task | method | updates (GAIL: env steps) | training h | evaluation h | h per run | runs |",
             "|---|---|---|---|---|---|---|"]
    for r in est.rows:
        lines.append(f"| {r['task']} | {r['method']} | {r['updates']:,} | {r['train_hours']:.2f} | "
                     f"{r['eval_hours']:.2f} | {r['hours_per_run']:.2f} | {r['runs']} |")
    lines += ["", "| rule | hours |", "|---|---|"]
    rules = est.per_rule()
    lines += [f"| {rule} | {hours:,.1f} |" for rule, hours in rules.items()]
    total = sum(rules.values())
    parallel = cores if str(opts.get("device", "cpu")) == "cpu" else 1
    lines += [f"| **all** | **{total:,.1f}** ({total / parallel / 24:,.1f} days on {parallel} "
              f"{'cores' if parallel > 1 else 'device'}) |"]
    if est.missing:
        lines += ["", "Not measured, so left out: " + "; ".join(est.missing) + "."]
    return "\n".join(lines) + "\n"
