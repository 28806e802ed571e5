"""The generative-model ablation's table and figure (Maze: EBM, VAE, GAN and DM guidance, without and
with the BC loss) beside the paper's numbers, from the ablation report's per-run table; each run's
guidance model and BC weight are read from its run.json (analysis.experiments.write_guidance_report).

Usage:
  python workflow/scripts/guidance_report.py --scores paper/default/generative_ablation/scores.csv \\
      --paper-results config/paper_results.yaml --out paper/default/generative_ablation
"""
from __future__ import annotations

import argparse
import sys

from analysis.experiments import write_guidance_report
from dbc_bench.errors import run_stage


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scores", required=True, help="scores.csv of the ablation's report")
    p.add_argument("--paper-results", required=True, help="config/paper_results.yaml")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    return run_stage(lambda: write_guidance_report(args.scores, args.paper_results, args.out, args.title))


if __name__ == "__main__":
    sys.exit(main())
