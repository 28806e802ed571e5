"""Train an RL expert (hand_rotate, walker, cheetah, ant_reach) from scratch with stable-baselines3 PPO, keep the best
export and measure it on fresh seeds (envs.experts.training); writes <task>.pt, <task>.json (card)
and <task>_curve.csv into --out-dir."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from dbc_bench.errors import run_stage
from envs.experts.training import train


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="a task whose registry entry has an RL expert (envs.TASKS)")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--env-steps", type=int, help="override the config's env_steps (tiny test runs)")
    p.add_argument("--eval-episodes", type=int, help="override final_eval_episodes (the final measurement)")
    p.add_argument("--max-minutes", type=float, help="override max_wall_minutes (training stops, keeps the best)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    command = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix() if argv is None
                                                 else "workflow/scripts/train_expert.py",
                                                 *(sys.argv[1:] if argv is None else argv)])
    return run_stage(lambda: train(args, command))


if __name__ == "__main__":
    sys.exit(main())
