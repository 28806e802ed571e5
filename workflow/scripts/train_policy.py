"""Train one (method, task, seed) and evaluate it during and after training (methods.jobs.train).

--hyperparameters holds the run's resolved config (the Snakefile resolves it once from
config/methods/ and the budget); --input passes what the method's registry entry needs
(DBC: diffusion_model=<path>). Writes run.json, train_log.csv, eval_curve.csv, timing.json,
model.pt and, last, eval_final.csv into --run-dir.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import dbc_bench  # noqa: F401  (first: it pins the CPU kernels before numpy loads, dbc_bench.kernels)
from envs.evaluation import Evaluation
from envs.shipped import check_against_summary
from methods import jobs
from pipeline import job


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected name=path, got '{text}'")
    return key, value


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--method", required=True, help="run name: a method or variant, with @field=value overrides")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--hyperparameters", required=True, type=json.loads, help="JSON: the resolved config")
    p.add_argument("--input", action="append", default=[], type=key_value, help="name=path, as the method needs")
    p.add_argument("--budget", default="")
    p.add_argument("--dataset", required=True, type=Path, help="Minari dataset directory")
    p.add_argument("--summary", required=True, type=Path,
                   help="the data summary whose recorded sha256 the dataset's bytes must match")
    p.add_argument("--run-dir", required=True, type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-episodes", type=int, default=Evaluation.episodes)
    p.add_argument("--eval-envs", type=int, default=Evaluation.num_envs)
    p.add_argument("--eval-points", type=int, default=Evaluation.points)
    p.add_argument("--eval-env-kwargs", default={}, type=json.loads, help="JSON kwargs of the evaluation env")
    p.add_argument("--code", default="", help="the code's fingerprint (a state saved by other code is not resumed)")
    p.add_argument("--checkpoint-seconds", type=float, default=120.0,
                   help="save the resumable training state at least this often (and at every evaluation)")
    job.add_arguments(p)
    args = p.parse_args(argv)

    def stage():
        check_against_summary(args.dataset, args.summary)
        jobs.train(
            args.task, args.method, args.seed, args.hyperparameters, args.dataset, args.run_dir, dict(args.input),
            Evaluation(args.eval_episodes, args.eval_envs, args.eval_points, args.eval_env_kwargs),
            budget=args.budget, threads=args.threads, device=args.device, checkpoint_seconds=args.checkpoint_seconds,
            code=args.code)

    return job.run(args, stage)


if __name__ == "__main__":
    sys.exit(main())
