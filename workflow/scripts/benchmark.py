"""Speed benchmark (the `bench` target): the suite's offline trainers against a plain PyTorch loop of
the same network and batch (the `paper` budget's sizes, one thread), evaluation against the raw env
step rate, GAIL against stable-baselines3 PPO alone, inference latency and peak memory.

Compared variants alternate (suite, plain, suite, plain, ...) so that machine drift hits both
alike; each figure is the median over the rounds. Prints JSON lines as rows are measured, then the
Markdown report, and writes benchmark.md and benchmark.json under --out. `--tiny` runs every code
path at toy sizes in moments; its figures mean nothing (the tests use it). The library is the
`benchmarks` package; research measurements (matmul bounds, per-update floors) are in tools/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import envs
from benchmarks import bench, trainers
from dbc_bench.errors import run_stage


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("results/benchmark"), help="folder of benchmark.md/.json")
    p.add_argument("--tasks", nargs="+", default=list(envs.TASKS), help="default: every task")
    p.add_argument("--methods", nargs="+", default=trainers.offline_methods(),
                   help="offline methods (default: every registered one); the first one's policy runs "
                        "the evaluation row")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per comparison")
    p.add_argument("--seconds", type=float, default=2.0, help="target duration of each timed trainer run")
    p.add_argument("--gail-rollouts", type=int, default=4, help="PPO rollouts per timed GAIL / PPO run (0: skip)")
    p.add_argument("--tiny", action="store_true", help="toy sizes, minimal work: checks the code paths only")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    options = bench.Options(out=args.out, tasks=args.tasks, methods=args.methods, rounds=args.rounds,
                            seconds=args.seconds, gail_rollouts=args.gail_rollouts, tiny=args.tiny,
                            device=args.device)

    def stage() -> None:
        print(bench.write(bench.run(options), options.out), flush=True)

    return run_stage(stage)


if __name__ == "__main__":
    sys.exit(main())
