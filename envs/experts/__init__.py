"""Scripted demonstrators for the DBC-Bench tasks.

``make_expert(task_name, env, rng)`` returns an object with a one-line
``description``, ``reset(obs)`` (call after every ``env.reset``) and
``act(obs) -> float32 action`` inside the env's action space. ``env`` is only
read for static facts (e.g. the maze layout); policies act from the flat obs.
Walker and HandRotate use RL experts (PPO, trained by workflow/scripts/train_expert.py),
loaded weights-only from the shipped files beside this module (or a folder of retrained ones:
``envs.experts.rl.use_experts_dir``); see envs/experts/rl.py.
"""

from __future__ import annotations

import importlib
from typing import Protocol

import gymnasium as gym
import numpy as np

from envs import get_task


class Expert(Protocol):
    description: str

    def reset(self, obs: np.ndarray) -> None: ...

    def act(self, obs: np.ndarray) -> np.ndarray: ...


def make_expert(task_name: str, env: gym.Env, rng: np.random.Generator) -> Expert:
    """The task's expert as its registry entry names it (envs.TASKS: `expert`)."""
    task = get_task(task_name)
    if task.expert == "rl":
        from envs.experts.rl import load_rl_expert

        return load_rl_expert(task.name, env, rng=rng, sampled=task.expert_actions == "sampled")
    module, name = task.expert.split(":")
    return getattr(importlib.import_module(module), name)(env, rng)


__all__ = ["Expert", "make_expert"]
