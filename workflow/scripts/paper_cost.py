"""A budget's cost on the machine a speed benchmark ran on (benchmarks.estimate): hours per (task, method)
and per rule, from the benchmark's rates at the paper budget's sizes.

Usage:
  python workflow/scripts/paper_cost.py results/benchmark/benchmark.json [--budget paper] [--cores 2] [--seeds 3]
      [--out results/benchmark/paper_cost.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.estimate import estimate, render
from dbc_bench.errors import BenchError, run_stage
from dbc_bench.io import write_text_atomic
from pipeline import plan as plans


def show(bench_file: Path, budget: str, cores: int, seeds: int | None, out: Path | None) -> None:
    if not bench_file.is_file():
        raise BenchError(f"{bench_file}: no benchmark file (run workflow/scripts/benchmark.py first)")
    bench = json.loads(bench_file.read_text())
    plan = plans.build({"budget": budget})
    est = estimate(bench, plan.tasks, plan.config["methods"], seeds or len(plan.seeds), budget)
    text = render(est, bench, budget, cores)
    print(text, end="")
    if out:
        write_text_atomic(out, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("benchmark", type=Path, help="a benchmark.json of workflow/scripts/benchmark.py")
    p.add_argument("--budget", default="paper")
    p.add_argument("--cores", type=int, default=2, help="CPU jobs run side by side (one thread each)")
    p.add_argument("--seeds", type=int, help="runs per (task, method); default: config.yaml's seeds")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    return run_stage(lambda: show(args.benchmark, args.budget, args.cores, args.seeds, args.out))


if __name__ == "__main__":
    sys.exit(main())
