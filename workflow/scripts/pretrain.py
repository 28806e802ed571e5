"""Pre-train one task's model of a registered pre-training stage (registry.StageSpec: DBC's diffusion
model, the ablation's guidance models, ...); --hyperparameters holds its resolved config. With --shipped, the
stage's committed model (methods.pretrained) is installed instead, once its recipe is checked to be this job's."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import dbc_bench  # noqa: F401  (first: it pins the CPU kernels before numpy loads, dbc_bench.kernels)
from envs.shipped import check_against_summary
from methods import pretrained, registry
from pipeline import job


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--stage", required=True, help="the stage's registered name (diffusion_model, ebm_model, ...)")
    p.add_argument("--task", required=True)
    p.add_argument("--hyperparameters", required=True, type=json.loads, help="JSON: the resolved config")
    p.add_argument("--budget", default="")
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--summary", required=True, type=Path,
                   help="the data summary whose recorded sha256 the dataset's bytes must match")
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-points", type=int, default=10)
    p.add_argument("--code", default="", help="the code's fingerprint (a state saved by other code is not resumed)")
    p.add_argument("--shipped", action="store_true",
                   help="install the shipped model (methods/pretrained/<stage>/<task>/) instead of pre-training")
    job.add_arguments(p)
    args = p.parse_args(argv)

    def pretrain():
        stage = registry.stage(args.stage)
        check_against_summary(args.dataset, args.summary)
        if args.shipped:
            wanted = pretrained.recipe(args.stage, args.task, args.hyperparameters,
                                       pretrained.dataset_sha256(args.dataset), args.seed)
            card = pretrained.install(args.stage, args.task, wanted, args.out_dir)
            seconds = card["made_by"]["train_seconds"]
            print(f"installed the shipped {stage.label} of '{args.task}' "
                  f"({pretrained.card_path(args.stage, args.task)}; trained in {seconds:.0f} s)", flush=True)
            return
        stage.pretrain(
            args.task, args.hyperparameters, args.dataset, args.out_dir, budget=args.budget, seed=args.seed,
            threads=args.threads, device=args.device, eval_points=args.eval_points, code=args.code)

    return job.run(args, pretrain)


if __name__ == "__main__":
    sys.exit(main())
