"""Build the DBC-Bench report for one set of runs: per-run scores, rliable aggregates,
per-task tables (Markdown and LaTeX) and figures (PDF and PNG); see analysis.report.

Usage:
  python workflow/scripts/make_report.py --runs results/default/runs/*/*/seed* \\
      --references results/default/data/maze.json ... --paper-results config/paper_results.yaml \\
      --registry '{"methods": {"bc": "BC", ...}, "tasks": {"maze": "Maze", ...}}' \\
      --out paper/default --reps 10000 --seed 0 --title "budget: default"

Bad input ends with one line `error: ...` on stderr naming the file or field, and exit status 1.
"""
from __future__ import annotations

import argparse
import json
import sys

from analysis.labels import Registry, add_registry_argument
from analysis.reference import check_shipped_runs
from analysis.report import ReportSettings, build_report
from dbc_bench.errors import run_stage
from dbc_bench.io import read_json


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", required=True, nargs="+",
                   help="run directories <task>/<method>/seed<k>/ (e.g. results/default/runs/*/*/seed*)")
    p.add_argument("--references", required=True, nargs="+", help="task reference JSON files")
    p.add_argument("--paper-results", required=True, help="config/paper_results.yaml")
    add_registry_argument(p)
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replications (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="numpy seed set before each rliable call")
    p.add_argument("--title", default="", help="label shown in table captions and figure titles")
    p.add_argument("--budget", default=None,
                   help="keep only runs whose run.json budget equals this (default: all; mixed budgets are an error)")
    p.add_argument("--provenance", default="",
                   help="one line on the command and config that produced these runs (for README.md)")
    p.add_argument("--latency", nargs="*", default=[],
                   help="inference latency files per task and method (evaluate_policy.py --latency-out)")
    p.add_argument("--with-experiments", action="store_true",
                   help="README.md also links the experiment targets' outputs (the main report)")
    p.add_argument("--reference-method", default="dbc", help="report P(it > X) for each other method X")
    p.add_argument("--paper-lengths", type=json.loads, default={},
                   help="JSON: method -> task -> the paper budget's {epochs, batch_size} or {env_steps}")
    p.add_argument("--shipped-runs", nargs="*", default=[],
                   help="committed runs of methods not rerun (config `reference: shipped`), merged after checks")
    p.add_argument("--shipped-protocol", type=json.loads, default={},
                   help="JSON: task -> the budget and evaluation protocol the shipped runs must match")
    p.add_argument("--videos", nargs="*", default=[], help="video folders of runs (record_videos), linked in README.md")
    p.add_argument("--confidence", type=float, default=0.95, help="CI coverage (default 0.95)")
    p.add_argument("--unequal-seeds", choices=("error", "common"), default="error",
                   help="a method with different seed counts across tasks: fail (default) or "
                        "aggregate only the seeds present on every task")
    return p.parse_args(argv)


def report(args: argparse.Namespace) -> None:
    settings = ReportSettings(reps=args.reps, seed=args.seed, confidence=args.confidence,
                              unequal_seeds=args.unequal_seeds, title=args.title, provenance=args.provenance,
                              with_experiments=args.with_experiments, registry=Registry.from_json(args.registry),
                              reference_method=args.reference_method, paper_lengths=args.paper_lengths,
                              videos=tuple(args.videos))
    runs = list(args.runs)
    if args.shipped_runs:  # only runs made on this run's very dataset bytes, protocol and budget
        datasets = {summary["task"]: summary.get("files") for summary in map(read_json, args.references)}
        runs += check_shipped_runs(args.shipped_runs, args.shipped_protocol, datasets)
    build_report(runs, args.references, args.paper_results, args.out, settings,
                 latency_files=args.latency, budget=args.budget)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_stage(lambda: report(args))


if __name__ == "__main__":
    sys.exit(main())
