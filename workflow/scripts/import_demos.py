"""The data stage for a task whose demonstrations come from outside the suite (config key `datasets`):
check the user's file against the task and write it as the suite's Minari dataset with a JSON summary
(envs.importing.import_dataset)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import dbc_bench  # noqa: F401  (first: it pins the CPU kernels before numpy loads, dbc_bench.kernels)
from envs.importing import import_dataset
from pipeline import job


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--source", required=True, type=json.loads, help="JSON: the task's entry of `datasets`")
    p.add_argument("--out", required=True, type=Path, help="dataset directory to create")
    p.add_argument("--summary", required=True, type=Path)
    p.add_argument("--random-episodes", type=int, default=20)
    p.add_argument("--eval-env-kwargs", default="{}", help="JSON kwargs of the headline evaluation env")
    job.add_arguments(p)
    args = p.parse_args(argv)
    return job.run(args, lambda: import_dataset(args.task, args.source, args.out, args.summary,
                                            json.loads(args.eval_env_kwargs), random_episodes=args.random_episodes))


if __name__ == "__main__":
    sys.exit(main())
