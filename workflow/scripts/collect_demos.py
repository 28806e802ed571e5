"""The data stage: install a task's shipped demonstrations, or roll out its expert and write them as a
local Minari dataset, with a JSON summary of the expert's score and the reference scores
(envs.demos.produce; `--demos regenerate` compares the new bytes with the shipped card)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dbc_bench.errors import run_stage
from envs.demos import produce
from envs.experts.rl import use_experts_dir
from envs.shipped import DEMO_MODES


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
    p.add_argument("--demos", choices=DEMO_MODES, default="shipped",
                   help="shipped: install the committed dataset made by this recipe, if any; regenerate: "
                        "collect and compare with it; ship: collect and replace it")
    p.add_argument("--experts-dir", type=Path, help="load RL experts from here (retrained), not the shipped files")
    args = p.parse_args(argv)
    use_experts_dir(args.experts_dir)
    data = {key: value for key, value in (("episodes", args.episodes), ("transitions", args.transitions))
            if value is not None}
    return run_stage(lambda: produce(args.task, args.out, args.summary, data, args.expert_seed,
                                     json.loads(args.eval_env_kwargs), demos=args.demos,
                                     random_episodes=args.random_episodes))


if __name__ == "__main__":
    sys.exit(main())
