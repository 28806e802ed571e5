"""How close the suite's BC and DBC trainers come to what this machine allows: a research tool,
not part of the `bench` target or the Snakemake DAG.

For each (task, method) at the `paper` budget's sizes, on one thread, it measures
- the suite's updates/s and the plain loop's (benchmarks.trainers, alternating medians);
- the matmul-bound limit: the update's FLOPs (forward, weight- and input-gradient matmuls of the
  trained network; DBC adds its frozen diffusion model's forward on agent and expert pairs and its
  input gradient on the agent pairs) at the machine's 1024^3 GEMM rate;
- the bound at these shapes: the update's own matmuls timed alone (small matmuls run below the peak);
- the floor: those matmuls plus what no trainer of the update avoids (a minibatch draw, one
  gradient-norm pass, one fused Adam step), each timed alone, as the fastest pass;
- the speed target: 2x the plain loop, or 75% of the bound at these shapes where 2x exceeds it;
- the trainer's top-level ATen calls per update (profiler, one epoch against two, differenced so the
  loop's fixed costs cancel) and the time per call above the floor, against one bare call's cost.
Where the floor is below the target, no trainer meets the target on this machine.

Run from the repository root with the suite installed (setup.sh), on a quiet machine:
    python tools/speed_floor.py                      # bc and dbc on every task (a few minutes)
    python tools/speed_floor.py --tasks maze --methods bc dbc ibc diffusion_policy --json floor.json
    python tools/speed_floor.py --tiny               # toy sizes: checks the code paths only
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

import envs
from benchmarks import plain, report, trainers
from dbc_bench.errors import BenchError, run_stage
from dbc_bench.io import write_json_atomic

Gemm = tuple[int, int, int]  # (m, k, n) of [m x k] @ [k x n]


def forward_gemms(dims: list[int], rows: int) -> list[Gemm]:
    return [(rows, a, b) for a, b in zip(dims[:-1], dims[1:])]


def trained_gemms(forward: list[Gemm]) -> list[Gemm]:
    """Forward, weight-gradient and input-gradient matmul of each trained layer."""
    return [shape for m, k, n in forward for shape in ((m, k, n), (k, m, n), (m, n, k))]


def frozen_gemms(forward: list[Gemm]) -> list[Gemm]:
    """A frozen model per layer: forward and input gradient on the agent pairs, forward on the
    expert pairs; no weight gradients."""
    return [shape for m, k, n in forward for shape in ((m, k, n), (m, n, k), (m, k, n))]


def update_gemms(su: trainers.Setup) -> list[Gemm]:
    """The least matmul work of one update. Implicit BC's energy sees B x (N + 1) candidate actions
    but each state once (its first layer splits into a state and an action half); Diffusion Policy
    adds its timestep-embedding MLP."""
    o, a, b, cfg = su.obs_dim, su.act_dim, su.batch, su.cfg
    if su.method in ("bc", "dbc"):
        gemms = trained_gemms(forward_gemms([o, *cfg.hidden, a], b))
        if "diffusion_model" in su.needs:
            w = su.needs["diffusion_model"].width
            gemms += frozen_gemms(forward_gemms([o + a, w, w, w, o + a], b))
        return gemms
    if su.method == "ibc":
        rows = b * (cfg.counter_examples + 1)
        return trained_gemms([(b, o, cfg.hidden[0]), (rows, a, cfg.hidden[0])] + forward_gemms([*cfg.hidden, 1], rows))
    if su.method == "diffusion_policy":
        e = cfg.time_embed_dim
        return trained_gemms(forward_gemms([e, 2 * e, e], b) + forward_gemms([a + o + e, *cfg.hidden, a], b))
    raise BenchError(f"no matmul shapes for method '{su.method}'")


def fastest_pass(one_pass: Callable[[], object], seconds: float) -> float:
    """The fastest of repeated timed calls over about `seconds` (after one untimed call): a limit,
    which machine noise can only slow."""
    one_pass()
    times: list[float] = []
    while not times or sum(times) < seconds:
        start = time.perf_counter()
        one_pass()
        times.append(time.perf_counter() - start)
    return min(times)


def gemm_seconds(gemms: list[Gemm], seconds: float) -> float:
    """These matmuls alone, with operands laid out and shared as in the update, since both change
    the rate: a right operand is stored as nn.Linear stores it (out x in, used transposed), and a
    shape seen before, or its transpose, is the same tensor (a weight serves its forward and its
    input gradient), so large weights are reread from cache."""
    stored: dict[tuple[int, int], torch.Tensor] = {}

    def operand(rows: int, cols: int, weight: bool) -> torch.Tensor:
        if (rows, cols) in stored:
            return stored[rows, cols]
        if (cols, rows) in stored:
            return stored[cols, rows].t()
        if weight:
            stored[cols, rows] = torch.randn(cols, rows)
            return stored[cols, rows].t()
        stored[rows, cols] = torch.randn(rows, cols)
        return stored[rows, cols]

    operands = [(operand(m, k, weight=False), operand(k, n, weight=True)) for m, k, n in gemms]

    def one_pass():
        for x, w in operands:
            torch.mm(x, w)

    return fastest_pass(one_pass, seconds)


def optimizer_seconds(su: trainers.Setup, workdir: Path, seconds: float) -> float:
    """A minibatch draw from 10,000 transitions, one gradient-norm pass and one fused Adam step over
    the trained parameters: Adam reads and writes four parameter-sized arrays, memory traffic no
    trainer avoids."""
    data = trainers.random_demos(su.obs_dim, su.act_dim)
    agent = trainers.build_agent(su, data, workdir)
    params = [nn.Parameter(torch.zeros_like(p)) for p in agent.parameters() if p.requires_grad]
    for p in params:
        p.grad = 1e-3 * torch.randn_like(p)
    grads = [p.grad for p in params]
    optimizer = torch.optim.Adam(params, lr=1e-4, eps=1e-12, fused=True)
    transitions = torch.randn(len(data), su.obs_dim + su.act_dim)

    def one_pass():
        transitions[torch.randint(len(transitions), (su.batch,))]
        nn.utils.get_total_norm(grads)
        optimizer.step()

    return fastest_pass(one_pass, seconds)


def aten_calls_per_update(su: trainers.Setup, workdir: Path) -> float:
    from torch.profiler import ProfilerActivity, profile

    per_epoch = 4
    data = trainers.random_demos(su.obs_dim, su.act_dim, per_epoch * su.batch)

    def count(epochs: int) -> int:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            trainers.suite_rate(su, data, epochs, workdir)
        return sum(1 for e in prof.events() if e.name.startswith("aten::")
                   and not (e.cpu_parent is not None and e.cpu_parent.name.startswith("aten::")))

    return (count(2) - count(1)) / per_epoch


def bare_call_seconds() -> float:
    """One ATen call on a 4-element tensor: the dispatch cost every op pays."""
    x, calls = torch.ones(4), 100_000

    def one_pass():
        for _ in range(calls):
            torch.add(x, 1.0)

    return fastest_pass(one_pass, 0.5) / calls


def floor_row(su: trainers.Setup, rounds: int, seconds: float, peak: float, workdir: Path) -> dict:
    row = trainers.trainer_row(su, rounds, seconds, workdir)
    s, p = row["suite_updates_per_s"], row["plain_updates_per_s"]
    gemms = update_gemms(su)
    flops = sum(2.0 * m * k * n for m, k, n in gemms)
    gemm_time = gemm_seconds(gemms, seconds / 4)
    floor_time = gemm_time + optimizer_seconds(su, workdir, seconds / 4)
    target = 0.75 / gemm_time if 2.0 * p > 1.0 / gemm_time else 2.0 * p
    calls = aten_calls_per_update(su, workdir)
    allowed = (1.0 / target - floor_time) / calls  # per call, what the target leaves above the floor
    return {**row, "gflop_per_update": flops / 1e9, "matmul_bound_updates_per_s": peak / flops,
            "gemm_bound_updates_per_s": 1.0 / gemm_time, "floor_updates_per_s": 1.0 / floor_time,
            "fraction_of_floor": s * floor_time, "target_updates_per_s": target, "target_met": s >= target,
            "floor_reaches_target": allowed > 0, "aten_calls_per_update": calls,
            "us_per_call_above_floor": 1e6 * (1.0 / s - floor_time) / calls,
            "us_per_call_target_allows": 1e6 * allowed if allowed > 0 else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(envs.TASKS))
    p.add_argument("--methods", nargs="+", default=["bc", "dbc"], help="with a plain loop (benchmarks/plain.py)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)

    def stage() -> None:
        unknown = [m for m in args.methods if m not in plain.LOOPS] + [t for t in args.tasks if t not in envs.TASKS]
        if unknown:
            raise BenchError(f"'{unknown[0]}' is no task, or no method with a plain loop ({', '.join(plain.LOOPS)})")
        rounds, seconds = (1, 0.05) if args.tiny else (args.rounds, args.seconds)
        torch.set_num_threads(1)
        peak = 2.0 * 1024 ** 3 / gemm_seconds([(1024, 1024, 1024)], 0.2 if args.tiny else 2.0)
        bare = bare_call_seconds()
        with tempfile.TemporaryDirectory() as tmp:
            rows = [floor_row(trainers.setup(task, method, args.tiny), rounds, seconds, peak, Path(tmp))
                    for task in args.tasks for method in args.methods]
        print(f"One thread; matmul rate {peak / 1e9:.1f} GFLOP/s; one bare ATen call {1e6 * bare:.1f} µs.\n")
        print(report.table(rows, [
            ("task", "task", ""), ("method", "method", ""), ("suite", "suite_updates_per_s", "rate"),
            ("plain loop", "plain_updates_per_s", "rate"), ("GFLOP/update", "gflop_per_update", ".3f"),
            ("matmul-bound", "matmul_bound_updates_per_s", "rate"),
            ("bound at these shapes", "gemm_bound_updates_per_s", "rate"), ("floor", "floor_updates_per_s", "rate"),
            ("fraction of floor", "fraction_of_floor", ".2f"), ("target", "target_updates_per_s", "rate"),
            ("met", "target_met", ""), ("floor reaches target", "floor_reaches_target", ""),
            ("ATen calls/update", "aten_calls_per_update", ".0f"),
            ("µs per call above floor", "us_per_call_above_floor", ".1f"),
            ("µs per call the target allows", "us_per_call_target_allows", ".1f")]))
        if args.json:
            write_json_atomic(args.json, {"matmul_flops": peak, "bare_call_seconds": bare, "rows": rows})

    return run_stage(stage)


if __name__ == "__main__":
    sys.exit(main())
