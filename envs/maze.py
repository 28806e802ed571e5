"""Maze task: PointMaze_Medium with random start/goal cells that ends on reaching the goal.

Stands in for the authors' maze2d-medium (D4RL fork). Observation is the flat
(x, y, vx, vy, goal_x, goal_y) vector.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium_robotics.envs.maze import maps
from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv

OBS_DIM = 6


class MazeEnv(gym.Env):
    """Flat-observation episodic PointMaze on the medium map.

    The goal cell and start cell are drawn uniformly from the free cells (start
    at least one cell away from the goal), each jittered by U(-0.25, 0.25) per
    axis, as in gymnasium-robotics. The episode terminates when the ball is
    within 0.45 of the goal; ``info['success']`` reports the same test.
    ``options`` of ``reset`` may pin ``goal_cell`` / ``reset_cell`` (row, col).
    """

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 50}

    def __init__(self, render_mode: str | None = None):
        # continuing_task=False: otherwise the maze never terminates on success.
        self.sim_env = PointMazeEnv(
            maze_map=maps.MEDIUM_MAZE,
            render_mode=render_mode,
            continuing_task=False,
            reset_target=False,
        )
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(OBS_DIM,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    @property
    def maze(self):
        """The gymnasium-robotics Maze: map layout and cell <-> xy transforms."""
        return self.sim_env.maze

    @staticmethod
    def _flat(obs: dict) -> np.ndarray:
        return np.concatenate([obs["observation"], obs["desired_goal"]]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.sim_env.reset(seed=seed, options=options)
        return self._flat(obs), {"success": bool(info["success"])}

    def step(self, action):
        obs, reward, _, _, info = self.sim_env.step(np.asarray(action, dtype=np.float64))
        success = bool(info["success"])
        return self._flat(obs), float(reward), success, False, {"success": success}

    def render(self):
        return self.sim_env.render()

    def close(self):
        self.sim_env.close()
