"""Maintainers: write a finished pre-training of a stage into methods/pretrained/<stage>/<task>/ with its card
(methods.pretrained.ship), after checking that it was trained by this budget's recipe on this dataset."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dbc_bench.errors import run_stage
from dbc_bench.io import copy_atomic
from methods import pretrained


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--stage", required=True, help="the stage's registered name (diffusion_model, ...)")
    p.add_argument("--task", required=True)
    p.add_argument("--hyperparameters", required=True, type=json.loads, help="JSON: the budget's resolved config")
    p.add_argument("--trained-dir", required=True, type=Path, help="the pre-training job's output folder")
    p.add_argument("--dataset", required=True, type=Path, help="the dataset it was trained on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--record", required=True, type=Path, help="where to write a copy of the card written")
    args = p.parse_args(argv)

    def ship():
        wanted = pretrained.recipe(args.stage, args.task, args.hyperparameters,
                                   pretrained.dataset_sha256(args.dataset), args.seed)
        card = pretrained.ship(args.stage, args.task, args.trained_dir, wanted)
        copy_atomic(card, args.record)
        print(f"shipped {card}")

    return run_stage(ship)


if __name__ == "__main__":
    sys.exit(main())
