"""Roll out a task's expert and write its demonstrations as a local Minari dataset, with a JSON
summary of the expert's score and the reference scores (envs.demos.collect)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dbc_bench.errors import run_stage
from envs.demos import collect


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--out", required=True, type=Path, help="dataset directory to create")
    p.add_argument("--summary", required=True, type=Path)
    p.add_argument("--episodes", type=int)
    p.add_argument("--transitions", type=int)
    p.add_argument("--expert-seed", type=int, default=0)
    p.add_argument("--random-episodes", type=int, default=20)
    p.add_argument("--eval-env-kwargs", default="{}", help="JSON kwargs of the headline evaluation env")
    args = p.parse_args(argv)
    return run_stage(lambda: collect(args.task, args.out, args.summary, args.episodes, args.transitions,
                                     args.expert_seed, eval_env_kwargs=json.loads(args.eval_env_kwargs),
                                     random_episodes=args.random_episodes))


if __name__ == "__main__":
    sys.exit(main())
