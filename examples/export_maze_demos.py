"""Write examples/maze_demos_d4rl.pt, the demonstration file that examples/my_data.yaml imports: the
suite's shipped maze demonstrations (envs/demonstrations/maze), the first --episodes of them, in the DBC
authors' torch layout (float tensors obs, next_obs, actions, done) and in D4RL's maze2d frame, as a
file from elsewhere would come. Importing it with `frame: d4rl` gives those episodes back.

    python examples/export_maze_demos.py [--episodes 25] [--out examples/maze_demos_d4rl.pt]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from dbc_bench.errors import run_stage
from envs import importing, shipped


def export(episodes: int, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "maze"
        shipped.install("maze", dataset)
        arrays, _ = importing.READERS["minari"](importing.parse_source("maze", str(dataset)))
    last = np.flatnonzero(arrays["ends"])[episodes - 1] + 1  # transitions of the first `episodes`
    arrays = importing.rotate_to_d4rl({key: value[:last] for key, value in arrays.items()})
    torch.save({key: torch.as_tensor(arrays[key], dtype=torch.float32) for key in ("obs", "next_obs", "actions")}
               | {"done": torch.as_tensor(arrays["ends"], dtype=torch.float32)}, out)
    print(f"{out}: {episodes} maze episodes, {last} transitions, D4RL frame, the authors' layout")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=25)
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("maze_demos_d4rl.pt"))
    args = p.parse_args(argv)
    return run_stage(lambda: export(args.episodes, args.out))


if __name__ == "__main__":
    sys.exit(main())
