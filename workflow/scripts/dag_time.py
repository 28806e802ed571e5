"""Where the DAG's time goes: a per-rule breakdown of a budget's Snakemake benchmark files
(results/<budget>/benchmarks/<rule>/...tsv; training also per method), with each job's wall and
CPU seconds and peak memory; see analysis.timing.

Usage:
  python workflow/scripts/dag_time.py results/default/benchmarks [--cores 2] [--out dag_time.md]
      [--rules collect_demos,pretrain_dm,train,measure_latency,report] [--tasks maze,...] [--methods bc,...]
"""
from __future__ import annotations

import argparse
import sys

from analysis.timing import breakdown, load_benchmarks
from dbc_bench.errors import run_stage
from dbc_bench.io import write_text_atomic


def show(bench_dir: str, cores: int, out: str | None, rules=None, tasks=None, methods=None) -> None:
    text = breakdown(load_benchmarks(bench_dir, rules, tasks, methods), cores)
    print(text, end="")
    if out:
        write_text_atomic(out, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bench_dir")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--out")
    names = lambda text: text.split(",")  # noqa: E731
    p.add_argument("--rules", type=names, help="only these rules' jobs (comma-separated)")
    p.add_argument("--tasks", type=names, help="only these tasks' jobs")
    p.add_argument("--methods", type=names, help="only these methods' training and latency jobs")
    args = p.parse_args(argv)
    return run_stage(lambda: show(args.bench_dir, args.cores, args.out, args.rules, args.tasks, args.methods))


if __name__ == "__main__":
    sys.exit(main())
