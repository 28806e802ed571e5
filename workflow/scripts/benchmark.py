"""Speed benchmark: the suite's trainers against a plain PyTorch loop of the same maths, at each
task's paper network sizes, on one thread; evaluation against the raw env step rate; inference
latency and peak memory per method; every trainer as a fraction of the matmul-bound limit.

The compared variants alternate (suite, plain, suite, plain, ...) so machine drift hits both
alike; each figure is the median over rounds. Prints a Markdown table and writes it, with a CSV,
under --out. `--tiny` runs every code path at toy sizes without timing anything meaningful
(the test suite uses it).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import envs
from methods import bc, dbc
from methods.core import Demonstrations, Normalizer, write_text_atomic
from methods.diffusion import Config as DMConfig
from methods.diffusion import DiffusionModel
from methods.evaluate import Evaluator, agent_policy
from methods.train import fit

# (obs_dim, act_dim, policy hidden, diffusion-model width): the authors' sizes (paper.md).
PAPER_SIZES = {
    "maze": (6, 2, [256, 256, 256], 128),
    "fetch_pick": (16, 4, [750, 750], 1024),
    "hand_rotate": (68, 20, [512, 512], 2048),
    "walker": (17, 6, [1024, 1024], 1024),
}
TINY_SIZES = {task: (o, a, [16], 16) for task, (o, a, _, _) in PAPER_SIZES.items()}
BATCH = 128


# ----------------------------------------------------------------------------- FLOPs

def mlp_flops(dims: list[int], rows: int) -> float:
    """Multiply-adds x 2 of one forward pass through Linear layers of these widths."""
    return sum(2.0 * rows * a * b for a, b in zip(dims[:-1], dims[1:]))


def update_flops(method: str, obs_dim: int, act_dim: int, hidden: list[int], width: int) -> float:
    """The least matmul work one update needs: forward + backward (weights and inputs) of the
    policy; for DBC also the frozen model's forward on the agent and expert pairs and its
    input-gradient backward on the agent pairs only (no weight gradients)."""
    policy = mlp_flops([obs_dim, *hidden, act_dim], BATCH)
    total = 3 * policy
    if method == "dbc":
        dm_dims = [obs_dim + act_dim, width, width, width, obs_dim + act_dim]
        total += 2 * mlp_flops(dm_dims, BATCH) + mlp_flops(dm_dims, BATCH)
    return total


def matmul_rate(seconds: float) -> float:
    """Single-thread float32 GEMM rate in FLOP/s (1024 x 1024 x 1024)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return n * 2 * 1024 ** 3 / (time.perf_counter() - start)


# ----------------------------------------------------------------------------- trainers

def random_demos(obs_dim: int, act_dim: int, n: int = 10_000) -> Demonstrations:
    g = torch.Generator().manual_seed(0)
    obs, act = torch.randn(n, obs_dim, generator=g), torch.randn(n, act_dim, generator=g)
    return Demonstrations(obs, act, Normalizer.empty(obs_dim), Normalizer.empty(act_dim), 1, "random")


def build_agent(method: str, obs_dim: int, act_dim: int, hidden: list[int], width: int):
    if method == "bc":
        return bc.Policy(obs_dim, act_dim, hidden)
    dm = DiffusionModel(obs_dim, act_dim, DMConfig(width=width))
    return dbc.DBCPolicy(obs_dim, act_dim, dbc.Config(hidden=hidden, lambda_dm=1.0), dm)


def suite_rate(method, sizes, data, updates: int, tmp: Path) -> float:
    """Updates/s of the suite's own loop (methods.train.fit), evaluation excluded."""
    agent = build_agent(method, *sizes)
    epochs = max(1, round(updates * BATCH / len(data)))
    cfg = bc.Config(epochs=epochs, batch_size=BATCH, hidden=sizes[2])
    state = tmp / f"bench-{method}.pt"
    result = fit(agent, data, cfg, evaluate=lambda a: [], eval_points=1, state_path=state, log_every=10 ** 9)
    state.unlink(missing_ok=True)
    return result.updates_per_second


def plain_rate(method, sizes, data, updates: int) -> float:
    """Updates/s of a plain PyTorch loop of the same maths: DataLoader batches, default Adam,
    the loss read back every batch, and for DBC both diffusion passes through autograd with
    the frozen model's weight gradients computed and thrown away."""
    from torch.utils.data import DataLoader, TensorDataset

    obs_dim, act_dim, hidden, width = sizes
    policy = nn.Sequential(*[m for h_in, h_out in zip([obs_dim, *hidden], hidden)
                             for m in (nn.Linear(h_in, h_out), nn.Tanh())], nn.Linear(hidden[-1], act_dim))
    dm = DiffusionModel(obs_dim, act_dim, DMConfig(width=width)) if method == "dbc" else None
    opt = torch.optim.Adam(policy.parameters(), lr=1e-4, eps=1e-12)
    loader = DataLoader(TensorDataset(data.obs, data.act), batch_size=BATCH, shuffle=True, drop_last=True)
    done, start = 0, time.perf_counter()
    while done < updates:
        for obs, act in loader:
            pred = policy(obs)
            loss = F.mse_loss(pred, act)
            if dm is not None:
                t = torch.randint(0, 1000, (BATCH,))
                noise = torch.randn(BATCH, obs_dim + act_dim)
                agent = F.mse_loss(dm.net(dm.schedule.add_noise(torch.cat([obs, pred], 1), noise, t), t), noise)
                expert = F.mse_loss(dm.net(dm.schedule.add_noise(torch.cat([obs, act], 1), noise, t), t), noise)
                loss = loss + torch.clamp(agent - expert, min=0)
                dm.zero_grad()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
            opt.step()
            loss.item()
            done += 1
            if done >= updates:
                break
    return done / (time.perf_counter() - start)


def calibrate(method, sizes, data, seconds: float) -> int:
    """Updates that take about `seconds`, estimated from a short run of the plain loop."""
    probe = max(5, int(20 * seconds))
    rate = plain_rate(method, sizes, data, probe)
    return max(10, int(rate * seconds))


def trainer_row(task: str, method: str, sizes, rounds: int, seconds: float, rate: float, tmp: Path) -> dict:
    torch.manual_seed(0)
    data = random_demos(sizes[0], sizes[1])
    updates = calibrate(method, sizes, data, seconds)
    suite, plain = [], []
    for _ in range(rounds):
        suite.append(suite_rate(method, sizes, data, updates, tmp))
        plain.append(plain_rate(method, sizes, data, updates))
    flops = update_flops(method, *sizes)
    s, p = statistics.median(suite), statistics.median(plain)
    return {"task": task, "method": method, "suite_updates_per_s": s, "plain_updates_per_s": p,
            "speedup": s / p, "gflop_per_update": flops / 1e9, "matmul_bound_updates_per_s": rate / flops,
            "fraction_of_bound": s * flops / rate}


# ----------------------------------------------------------------------------- evaluation, latency

def raw_env_rate(task: str, steps: int) -> float:
    env = envs.get_task(task).make()
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - start)


def eval_row(task: str, sizes, episodes: int, raw_steps: int) -> dict:
    obs_dim, act_dim, hidden, _ = sizes
    agent = bc.Policy(obs_dim, act_dim, hidden).eval()
    spec = envs.get_task(task).make()
    low, high = spec.action_space.low, spec.action_space.high
    policy = agent_policy(agent, Normalizer.empty(obs_dim), Normalizer.empty(act_dim), low, high,
                          torch.device("cpu"))
    raw = raw_env_rate(task, raw_steps)
    evaluator = Evaluator(task, 10)  # built once per run, outside the timed loop as in training
    start = time.perf_counter()
    rows = evaluator.run(policy, [10_000_000 + i for i in range(episodes)])
    loop = sum(r["length"] for r in rows) / (time.perf_counter() - start)
    evaluator.close()
    raw2 = raw_env_rate(task, raw_steps)
    raw = statistics.median([raw, raw2])
    return {"task": task, "raw_env_steps_per_s": raw, "eval_env_steps_per_s": loop, "ratio": loop / raw}


def latency_row(task: str, method: str, sizes, repeats: int) -> dict:
    agent = build_agent(method, *sizes).eval()
    out = {"task": task, "method": method}
    for batch in (1, 10):
        obs = torch.randn(batch, sizes[0])
        with torch.inference_mode():
            agent.act(obs)
            start = time.perf_counter()
            for _ in range(repeats):
                agent.act(obs)
        out[f"latency_ms_batch{batch}"] = (time.perf_counter() - start) / repeats * 1e3
    return out


def peak_memory_mb(task: str, method: str, tiny: bool) -> float:
    """Peak RSS of a fresh process that builds the method at these sizes and trains a little."""
    cmd = [sys.executable, __file__, "--memory-probe", task, method] + (["--tiny"] if tiny else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def memory_probe(task: str, method: str, tiny: bool) -> None:
    import tempfile

    sizes = (TINY_SIZES if tiny else PAPER_SIZES)[task]
    with tempfile.TemporaryDirectory() as tmp:
        suite_rate(method, sizes, random_demos(sizes[0], sizes[1]), 20, Path(tmp))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


# ----------------------------------------------------------------------------- report

def markdown(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(format(r[k], f) if isinstance(r[k], float) else str(r[k])
                                         for _, k, f in columns) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=Path("results/benchmark"))
    p.add_argument("--tasks", nargs="+", default=list(PAPER_SIZES))
    p.add_argument("--methods", nargs="+", default=["bc", "dbc"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=2.0, help="target duration of each timed trainer run")
    p.add_argument("--tiny", action="store_true", help="toy sizes, minimal work: checks the code paths only")
    p.add_argument("--memory-probe", nargs=2, metavar=("TASK", "METHOD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.memory_probe:
        memory_probe(*args.memory_probe, args.tiny)
        return 0

    sizes_of = TINY_SIZES if args.tiny else PAPER_SIZES
    if args.tiny:
        args.rounds, args.seconds = 1, 0.05
    args.out.mkdir(parents=True, exist_ok=True)
    rate = matmul_rate(0.2 if args.tiny else 2.0)
    print(f"single-thread float32 matmul rate: {rate / 1e9:.1f} GFLOP/s", flush=True)

    trainers, evals, latencies = [], [], []
    for task in args.tasks:
        sizes = sizes_of[task]
        for method in args.methods:
            row = trainer_row(task, method, sizes, args.rounds, args.seconds, rate, args.out)
            row["peak_rss_mb"] = peak_memory_mb(task, method, args.tiny)
            trainers.append(row)
            latencies.append(latency_row(task, method, sizes, 5 if args.tiny else 200))
            print(json.dumps(row), flush=True)
        evals.append(eval_row(task, sizes, 2 if args.tiny else 20, 50 if args.tiny else 3000))
        print(json.dumps(evals[-1]), flush=True)

    text = "\n\n".join([
        f"# DBC-Bench speed benchmark\n\nOne thread; matmul rate {rate / 1e9:.1f} GFLOP/s; batch {BATCH}; "
        f"paper network sizes{' (TINY: code-path check, figures meaningless)' if args.tiny else ''}. "
        f"Medians over {args.rounds} alternating rounds.",
        "## Training updates per second\n\n" + markdown(trainers, [
            ("task", "task", ""), ("method", "method", ""), ("suite", "suite_updates_per_s", ".0f"),
            ("plain loop", "plain_updates_per_s", ".0f"), ("speed-up", "speedup", ".2f"),
            ("GFLOP/update", "gflop_per_update", ".3f"), ("matmul-bound", "matmul_bound_updates_per_s", ".0f"),
            ("fraction of bound", "fraction_of_bound", ".2f"), ("peak RSS MB", "peak_rss_mb", ".0f")]),
        "## Evaluation env steps per second (BC policy in the loop, 10 envs) vs the raw env\n\n" + markdown(evals, [
            ("task", "task", ""), ("raw env", "raw_env_steps_per_s", ".0f"),
            ("evaluation loop", "eval_env_steps_per_s", ".0f"), ("ratio", "ratio", ".2f")]),
        "## Inference latency per action call (ms)\n\n" + markdown(latencies, [
            ("task", "task", ""), ("method", "method", ""), ("batch 1", "latency_ms_batch1", ".3f"),
            ("batch 10", "latency_ms_batch10", ".3f")]),
    ]) + "\n"
    print(text)
    write_text_atomic(args.out / "benchmark.md", text)
    write_text_atomic(args.out / "benchmark.json", json.dumps(
        {"matmul_flops": rate, "trainers": trainers, "evaluation": evals, "latency": latencies}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
