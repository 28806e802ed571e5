"""Evaluate a finished run's final policy under other conditions (--out, per-episode CSV), time its
inference (--latency-out, JSON), or record its first evaluation episodes (--videos-out, MP4); see
methods.jobs."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dbc_bench.io import read_json
from envs.evaluation import Evaluation
from methods import jobs
from methods.core import seed_everything
from pipeline import job


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run-dir", required=True, type=Path)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", type=Path, help="per-episode results (CSV)")
    what.add_argument("--latency-out", type=Path, help="inference latency per action (JSON)")
    what.add_argument("--videos-out", type=Path, help="folder of MP4 files of the first --episodes episodes")
    p.add_argument("--env-kwargs", default={}, type=json.loads, help="JSON kwargs of the evaluation env")
    p.add_argument("--episodes", type=int, default=Evaluation.episodes)
    p.add_argument("--envs", type=int, default=Evaluation.num_envs)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    job.add_arguments(p)
    args = p.parse_args(argv)
    return job.run(args, lambda: evaluate(args))


def evaluate(args: argparse.Namespace) -> None:
    # Implicit BC's DFO samples and a diffusion policy's noise come from the global RNGs: seeded with the
    # run's seed, every evaluation job repeats bit for bit.
    seed_everything(read_json(args.run_dir / "run.json")["seed"])
    if args.videos_out:
        jobs.record_videos(args.run_dir, args.videos_out, args.episodes, args.env_kwargs, args.threads, args.device)
    elif args.out:
        evaluation = Evaluation(args.episodes, args.envs, 1, args.env_kwargs)
        jobs.evaluate_run(args.run_dir, args.out, evaluation, args.threads, args.device)
    else:
        jobs.measure_latency(args.run_dir, args.latency_out, args.envs, args.env_kwargs, args.threads, args.device)


if __name__ == "__main__":
    sys.exit(main())
