"""Sensitivity of a method to one hyperparameter (the paper's lambda_DM sweep): final score per
task against the swept value, from the sweep's per-run table (scores.csv of make_report.py); each
run's value is read from the `config` of its run.json (the table's run_dir column).

Usage:
  python workflow/scripts/sweep_report.py --scores paper/default/lambda_sweep/scores.csv \\
      --method dbc --key lambda_dm --registry '<json>' --out paper/default/lambda_sweep \\
      --title "budget: default"

Writes sensitivity.csv (task, metric, value, mean, std, seeds), sensitivity.md and
sensitivity.pdf/.png.
"""
from __future__ import annotations

import argparse
import sys

from analysis.experiments import write_sensitivity_report
from analysis.labels import Registry, add_registry_argument
from dbc_bench.errors import run_stage


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scores", required=True, help="scores.csv of the sweep's report")
    p.add_argument("--method", required=True, help="the swept method (its label and colour in the figure)")
    p.add_argument("--key", required=True, help="the swept hyperparameter, a field of run.json's config")
    add_registry_argument(p)
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--title", default="")
    args = p.parse_args(argv)
    return run_stage(lambda: write_sensitivity_report(args.scores, args.method, args.key, args.out, args.title,
                                                      Registry.from_json(args.registry)))


if __name__ == "__main__":
    sys.exit(main())
