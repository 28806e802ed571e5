"""The shell shared by the goal-conditioned tasks (maze, fetch_pick, hand_rotate)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class FlatGoalEnv(gym.Env):
    """A gymnasium-robotics goal env (dict observations) seen as the paper's flat vector
    [first `n_robot_obs` observation entries, desired goal], ending on success, with
    ``info['success']`` at reset and every step."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 25}
    n_robot_obs: int | None = None  # None keeps the whole observation

    def __init__(self, sim_env, obs_dim: int, act_dim: int, render_mode: str | None = None):
        self.sim_env = sim_env
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(act_dim,), dtype=np.float32)

    def _flat(self, obs: dict) -> np.ndarray:
        return np.concatenate([obs["observation"][: self.n_robot_obs], self.goal_view(obs["desired_goal"])]
                              ).astype(np.float32)

    def goal_view(self, goal: np.ndarray) -> np.ndarray:
        """A goal (or a batch of them) as the flat observation shows it; a task that hides some goal
        entries (hand_rotate's easy mode) zeroes them here."""
        return np.asarray(goal)

    def _success(self, obs: dict, info: dict) -> bool:
        # The robot envs report is_success only after a step; their own test works at reset too.
        return bool(self.sim_env._is_success(obs["achieved_goal"], obs["desired_goal"]))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.sim_env.reset(seed=seed, options=options)
        return self._flat(obs), {"success": self._success(obs, info)}

    def step(self, action):
        obs, reward, _, _, info = self.sim_env.step(np.asarray(action, dtype=np.float64))
        success = self._success(obs, info)
        return self._flat(obs), float(reward), success, False, {"success": success}

    def render(self):
        return self.sim_env.render()

    def close(self):
        self.sim_env.close()
