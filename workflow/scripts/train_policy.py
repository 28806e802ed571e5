"""Train one (method, task, seed) on its demonstrations and evaluate it during and after training.

Writes into --run-dir: run.json (resolved config and provenance), train_log.csv, eval_curve.csv
(every evaluation during training, tagged by update), eval_final.csv (the headline: the final
policy's episodes), timing.json and model.pt. The headline score is the final evaluation; the
best evaluation during training is reported separately, never in its place.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

import envs
from methods import get_method
from methods.config import resolve
from methods.core import (BenchError, run_stage, load_demonstrations, save_atomic, seed_everything, select_device,
                          set_threads, write_json_atomic, write_text_atomic)
from methods.evaluate import Evaluator, agent_policy, eval_seeds
from methods.train import fit

EPISODE_COLUMNS = ["episode", "eval_seed", "success", "return", "length"]


def to_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or (list(rows[0]) if rows else [])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--budget", required=True)
    p.add_argument("--config-dir", default="config", type=Path)
    p.add_argument("--dataset", required=True, type=Path, help="Minari dataset directory")
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-episodes", type=int, default=100)
    p.add_argument("--eval-envs", type=int, default=10)
    p.add_argument("--eval-points", type=int, default=5)
    p.add_argument("--eval-env-kwargs", default="{}", help="JSON kwargs for the evaluation env")
    p.add_argument("--context", default="{}", help="JSON: extra inputs a method needs (e.g. a diffusion model)")
    p.add_argument("--checkpoint-seconds", type=float, default=120.0,
                   help="save the resumable training state at least this often (and at every evaluation)")
    args = p.parse_args(argv)
    return run_stage(lambda: run(args))


def run(args) -> None:
    wall_start = time.perf_counter()
    task = envs.get_task(args.task)
    method = get_method(args.method)
    cfg = resolve(args.config_dir, args.budget, args.method, args.task)
    for name in ("eval_episodes", "eval_envs", "eval_points"):
        if getattr(args, name) <= 0:
            raise BenchError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    env_kwargs = json.loads(args.eval_env_kwargs)

    set_threads(args.threads)
    device = select_device(args.device)
    seed_everything(args.seed)
    data = load_demonstrations(args.dataset, task.obs_dim, task.act_dim).to(device)
    online = getattr(method, "ONLINE", False)
    if not online:
        context = {**json.loads(args.context), "obs_norm": data.obs_norm, "act_norm": data.act_norm,
                   "action_low": data.act.min(0).values, "action_high": data.act.max(0).values}
        agent = method.build(cfg, task.obs_dim, task.act_dim, context).to(device)

    args.run_dir.mkdir(parents=True, exist_ok=True)
    seeds = eval_seeds(args.eval_episodes)
    evaluator = Evaluator(args.task, min(args.eval_envs, len(seeds)), env_kwargs)
    box = evaluator.pool[0].action_space
    eval_seconds = [0.0]

    def evaluate(trained) -> list[dict]:
        t0 = time.perf_counter()
        rows = evaluator.run(agent_policy(trained, data.obs_norm, data.act_norm, box.low, box.high, device), seeds)
        eval_seconds[0] += time.perf_counter() - t0
        print(f"evaluation: success {np.mean([r['success'] for r in rows]):.3f}  "
              f"return {np.mean([r['return'] for r in rows]):.1f}", flush=True)
        return rows

    run_info = {
        "task": args.task, "method": args.method, "seed": args.seed, "budget": args.budget,
        "config": dataclasses.asdict(cfg), "context": json.loads(args.context), "dataset": str(args.dataset), "transitions": len(data),
        "demo_episodes": data.n_episodes, "eval_episodes": args.eval_episodes,
        "eval_env_kwargs": env_kwargs, "eval_seed_first": seeds[0], "device": str(device),
        "threads": args.threads, "torch": torch.__version__, "python": platform.python_version(),
        "selection_rule": "headline = final policy (eval_final.csv); best-during-training is reported separately",
    }
    print(f"{args.method} on {args.task}, seed {args.seed}, budget {args.budget}: {len(data)} transitions, "
          f"{cfg.total_updates(len(data))} {'env steps' if online else 'updates'} on {device} "
          f"({args.threads} threads)", flush=True)

    state_path = args.run_dir / "state.pt"
    fingerprint = json.dumps({k: v for k, v in run_info.items() if k not in ("device", "threads")},
                             sort_keys=True)
    if online:  # learns from its own environment interaction; result.updates counts env steps
        agent, result = method.train_online(
            cfg, args.task, data, seed=args.seed, device=device, evaluate=evaluate,
            eval_points=args.eval_points, state_path=state_path, fingerprint=fingerprint,
            checkpoint_seconds=args.checkpoint_seconds, log=lambda line: print(line, flush=True))
    else:
        result = fit(agent, data, cfg, evaluate=evaluate, eval_points=args.eval_points, state_path=state_path,
                     fingerprint=fingerprint, checkpoint_seconds=args.checkpoint_seconds)
    evaluator.close()
    final_update = max(r["update"] for r in result.curve)
    final_rows = [{k: r[k] for k in EPISODE_COLUMNS} for r in result.curve if r["update"] == final_update]

    save_atomic({"agent": agent.state_dict(), "obs_norm": data.obs_norm.state_dict(),
                 "act_norm": data.act_norm.state_dict(), "method": args.method, "task": args.task,
                 "config": dataclasses.asdict(cfg)}, args.run_dir / "model.pt")
    write_text_atomic(args.run_dir / "train_log.csv", to_csv(result.log))
    write_text_atomic(args.run_dir / "eval_curve.csv", to_csv(result.curve, ["update"] + EPISODE_COLUMNS))
    write_json_atomic(args.run_dir / "run.json", run_info)
    write_json_atomic(args.run_dir / "timing.json", {
        "updates": result.updates, "train_seconds": result.train_seconds,
        "updates_per_second": result.updates_per_second, "eval_seconds": eval_seconds[0],
        "wall_seconds": time.perf_counter() - wall_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })
    # Written last: its presence marks a finished run.
    write_text_atomic(args.run_dir / "eval_final.csv", to_csv(final_rows, EPISODE_COLUMNS))
    state_path.unlink(missing_ok=True)
    final = np.mean([r["success"] for r in final_rows]), np.mean([r["return"] for r in final_rows])
    print(f"final: success {final[0]:.3f}  return {final[1]:.1f}; "
          f"{result.updates_per_second:.0f} updates/s over {result.train_seconds:.1f} s of training, "
          f"{eval_seconds[0]:.1f} s of evaluation", flush=True)


if __name__ == "__main__":
    sys.exit(main())
