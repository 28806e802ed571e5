"""DBC-Bench task environments.

Importing this package registers four gymnasium envs (real env classes with
entry points, so ``env.spec`` rebuilds them, e.g. via Minari's
``recover_environment``):

- ``DBC/Maze-v0``: PointMaze medium, random start/goal, 400 steps, success.
- ``DBC/FetchPick-v0``: Fetch pick-and-place, narrow sampler (kwarg ``noise_ratio``), 50 steps, success.
- ``DBC/HandRotate-v0``: Shadow-hand block z-rotation, narrow angles, 50 steps, success.
- ``DBC/Walker-v0``: Walker2d-v5, 1000 steps, return (no 'success' in info).

All observations are flat float32 Boxes. Success tasks put ``info['success']``
in the reset info and every step's info and terminate on success; truncation
comes from the registered ``max_episode_steps`` (gymnasium's TimeLimit).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True)
class Task:
    name: str
    env_id: str
    metric: str  # 'success' or 'return'
    max_episode_steps: int
    obs_dim: int
    act_dim: int

    def make(self, **kwargs) -> gym.Env:
        return gym.make(self.env_id, **kwargs)


TASKS: dict[str, Task] = {
    "maze": Task("maze", "DBC/Maze-v0", "success", 400, 6, 2),
    "fetch_pick": Task("fetch_pick", "DBC/FetchPick-v0", "success", 50, 16, 4),
    "hand_rotate": Task("hand_rotate", "DBC/HandRotate-v0", "success", 50, 68, 20),
    "walker": Task("walker", "DBC/Walker-v0", "return", 1000, 17, 6),
}

_ENTRY_POINTS = {
    "maze": ("envs.maze:MazeEnv", {}),
    "fetch_pick": ("envs.fetch_pick:FetchPickEnv", {"noise_ratio": 1.0}),
    "hand_rotate": ("envs.hand_rotate:HandRotateEnv", {}),
    "walker": ("envs.walker:WalkerEnv", {}),
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task '{name}'; choose from {', '.join(TASKS)}") from None


def _register() -> None:
    for name, task in TASKS.items():
        if task.env_id in gym.registry:
            continue
        entry_point, kwargs = _ENTRY_POINTS[name]
        gym.register(
            id=task.env_id,
            entry_point=entry_point,
            max_episode_steps=task.max_episode_steps,
            kwargs=kwargs,
        )


_register()

__all__ = ["Task", "TASKS", "get_task"]
