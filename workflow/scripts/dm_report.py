"""The diffusion model's reports (analysis.diffusion_model): `quality` (per task: dm_quality.md/.csv/
.pdf/.png) or `budget` (per model variant and task, beside DBC's runs with it and BC's: dm_budget/).

Usage:
  python workflow/scripts/dm_report.py quality --quality results/default/dm_quality/*.json --out paper/default
  python workflow/scripts/dm_report.py budget --variant NAME 'QUALITY.json ...' 'DBC_RUN ...' [--variant ...] \\
      --bc-runs results/default/runs/maze/bc/seed1 ... --references results/default/data/maze.json \\
      --out paper/default/dm_budget
"""
from __future__ import annotations

import argparse
import sys

from analysis.diffusion_model import write_budget_report, write_quality_report
from analysis.labels import Registry, add_registry_argument
from dbc_bench.errors import run_stage


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=("quality", "budget"))
    p.add_argument("--quality", nargs="*", default=[], help="quality: the tasks' dm_quality JSONs")
    p.add_argument("--variant", nargs=3, action="append", default=[], metavar=("NAME", "QUALITY", "RUNS"),
                   help="budget: a variant's name, its quality JSONs and its DBC run folders (space-separated)")
    p.add_argument("--bc-runs", nargs="*", default=[])
    p.add_argument("--references", nargs="*", default=[], help="the tasks' data summaries")
    p.add_argument("--reps", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    add_registry_argument(p)
    p.add_argument("--out", required=True)
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    registry = Registry.from_json(args.registry)
    if args.kind == "quality":
        return run_stage(lambda: write_quality_report(args.quality, args.out, args.title, registry))
    quality = {name: files.split() for name, files, _ in args.variant}
    runs = {name: dirs.split() for name, _, dirs in args.variant}
    return run_stage(lambda: write_budget_report(quality, runs, args.bc_runs, args.references, args.out, args.reps,
                                                 args.seed, args.title, registry))


if __name__ == "__main__":
    sys.exit(main())
