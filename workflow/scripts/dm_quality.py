"""Measure one task's diffusion model: held-out loss and how its per-pair loss separates expert pairs
from perturbed, BC and shuffled ones (methods.dm_quality.measure); writes one JSON.

Usage:
  python workflow/scripts/dm_quality.py --task maze --hyperparameters '<resolved DM config>' \\
      --model results/default/diffusion_model/maze/model.pt --dataset <dataset> --summary <summary> \\
      --bc-run results/default/runs/maze/bc/seed1 --out results/default/dm_quality/maze.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import dbc_bench  # noqa: F401  (first: it pins the CPU kernels before numpy loads, dbc_bench.kernels)
from envs.shipped import check_against_summary
from methods import dm_quality
from pipeline import job


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True)
    p.add_argument("--hyperparameters", required=True, type=json.loads, help="JSON: the model's resolved config")
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path,
                   help="the data summary whose recorded sha256 the dataset's bytes must match")
    p.add_argument("--bc-run", action="append", default=[], type=Path, help="a finished BC run of the task")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--draws", type=int, default=64, help="(t, noise) draws per pair")
    p.add_argument("--threads", type=int, default=1)
    job.add_arguments(p)
    args = p.parse_args(argv)

    def stage():
        check_against_summary(args.dataset, args.summary)
        dm_quality.measure(args.task, args.hyperparameters, args.model, args.dataset, args.bc_run, args.out,
                           draws=args.draws, threads=args.threads)

    return job.run(args, stage)


if __name__ == "__main__":
    sys.exit(main())
