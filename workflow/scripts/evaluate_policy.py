"""Evaluate a trained policy (a run's model.pt) under other conditions, e.g. FetchPick at other
noise ratios. Same protocol as training's evaluation: deterministic policy, fixed episode seeds,
batched environments. Writes one row per episode to --out (CSV).

With --latency-out instead, measures the policy's inference latency per action: the wall time
the evaluation loop waits for one batch of actions (normalisation included), for one env and for
--envs envs at once, on observations from the task's initial states; writes a JSON file.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

import envs
from methods import get_method
from methods.core import (BenchError, Normalizer, run_stage, load_checkpoint, load_state_checked, select_device,
                          set_threads, write_text_atomic)
from methods.evaluate import Evaluator, agent_policy, eval_seeds, latency_per_call
from train_policy import EPISODE_COLUMNS, to_csv


def load_policy(run_dir: Path, device):
    """The run's final agent and normalisers, rebuilt from its own record (run.json, model.pt)."""
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        raise BenchError(f"{info_path}: not found (is {run_dir} a finished run?)")
    info = json.loads(info_path.read_text())
    ckpt = load_checkpoint(run_dir / "model.pt")
    task = envs.get_task(info["task"])
    method = get_method(info["method"])
    cfg = method.Config(**info["config"])
    obs_norm, act_norm = Normalizer.empty(task.obs_dim), Normalizer.empty(task.act_dim)
    load_state_checked(obs_norm, ckpt["obs_norm"], str(run_dir / "model.pt"))
    load_state_checked(act_norm, ckpt["act_norm"], str(run_dir / "model.pt"))
    context = {**info.get("context", {}), "obs_norm": obs_norm, "act_norm": act_norm}
    agent = method.build(cfg, task.obs_dim, task.act_dim, context)
    load_state_checked(agent, ckpt["agent"], str(run_dir / "model.pt"))
    return info, agent.to(device).eval(), obs_norm.to(device), act_norm.to(device)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run-dir", required=True, type=Path)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", type=Path, help="per-episode results (CSV)")
    what.add_argument("--latency-out", type=Path, help="inference latency per action (JSON)")
    p.add_argument("--env-kwargs", default="{}", help="JSON kwargs of the evaluation env")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--envs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    return run_stage(lambda: evaluate(args) if args.out else measure_latency(args))


def evaluate(args) -> None:
    set_threads(args.threads)
    device = select_device(args.device)
    info, agent, obs_norm, act_norm = load_policy(args.run_dir, device)
    seeds = eval_seeds(args.episodes)
    evaluator = Evaluator(info["task"], min(args.envs, len(seeds)), json.loads(args.env_kwargs))
    box = evaluator.pool[0].action_space
    rows = evaluator.run(agent_policy(agent, obs_norm, act_norm, box.low, box.high, device), seeds)
    evaluator.close()
    write_text_atomic(args.out, to_csv(rows, EPISODE_COLUMNS))
    print(f"{info['method']} on {info['task']} seed {info['seed']} with {args.env_kwargs}: success "
          f"{sum(r['success'] for r in rows) / len(rows):.3f}", flush=True)


def measure_latency(args) -> None:
    set_threads(args.threads)
    device = select_device(args.device)
    info, agent, obs_norm, act_norm = load_policy(args.run_dir, device)
    evaluator = Evaluator(info["task"], args.envs, json.loads(args.env_kwargs))
    obs = np.stack([env.reset(seed=seed)[0] for env, seed in zip(evaluator.pool, eval_seeds(args.envs))])
    obs = obs.astype(np.float32)
    box = evaluator.pool[0].action_space
    evaluator.close()
    policy = agent_policy(agent, obs_norm, act_norm, box.low, box.high, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    result = {"task": info["task"], "method": info["method"], "seed": info["seed"], "device": str(device),
              "threads": args.threads, "batch": args.envs}
    for name, batch in (("latency_ms_batch1", obs[:1]), ("latency_ms_batched", obs)):
        result[name] = 1e3 * latency_per_call(lambda: policy(batch), repeats=5, warmup=2, min_seconds=1.0,
                                              sync=sync)
    write_text_atomic(args.latency_out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
