"""FetchPick generalisation (the paper's table): success of each trained policy when the initial
object and goal sampling box is scaled by noise ratio r, beside the paper's numbers.

Usage:
  python workflow/scripts/generalization_report.py --evals results/default/generalization/*/seed*/r*.csv \\
      --paper-results config/paper_results.yaml --registry '<json>' --out paper/default --title "budget: default"

Input files are named <...>/<method>/seed<k>/r<ratio>.csv (one row per episode, from
evaluate_policy.py). Writes generalization.md/.tex, generalization.csv and generalization.pdf/.png.
"""
from __future__ import annotations

import argparse
import sys

from analysis.experiments import write_generalization_report
from analysis.labels import Registry, add_registry_argument
from dbc_bench.errors import run_stage


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--evals", nargs="+", required=True, help="<method>/seed<k>/r<ratio>.csv evaluation files")
    p.add_argument("--paper-results", required=True, help="config/paper_results.yaml")
    add_registry_argument(p)
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    return run_stage(lambda: write_generalization_report(args.evals, args.paper_results, args.out, args.title,
                                                         Registry.from_json(args.registry)))


if __name__ == "__main__":
    sys.exit(main())
