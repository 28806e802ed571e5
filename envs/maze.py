"""Maze task: the authors' maze2d-medium (their D4RL fork) on gymnasium-robotics' PointMaze medium.

The layout and point-mass dynamics are the same as D4RL's; what the authors' fork sets differently
from gymnasium-robotics is set here:
- start and goal are random free cells, each jittered by U(-0.1, 0.1) per coordinate (gymnasium:
  U(-0.25, 0.25)), the start at least 2 cells (Manhattan) from the goal, as in every one of the
  authors' 100 demonstrations;
- the initial velocity is N(0, 0.1^2) per coordinate (gymnasium: zero);
- success, the sparse reward and termination are at distance <= 0.5 from the goal (gymnasium: 0.45).
Observation: the flat (x, y, vx, vy, goal_x, goal_y) in gymnasium's frame (D4RL's is rotated:
gym_x = d4rl_y - 3.5, gym_y = 3.5 - d4rl_x).

``terminate_on_success=False`` keeps an episode going after success: the demonstrations are recorded
so, and end when the expert has come to rest at the goal (envs/experts/maze.py), as the authors'
do; evaluation terminates on success.
"""

from __future__ import annotations

import numpy as np
from gymnasium_robotics.envs.maze import maps
from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv

from envs.flat_goal_env import FlatGoalEnv

OBS_DIM = 6
JITTER = 0.1  # start and goal: U(-JITTER, JITTER) per coordinate
INITIAL_VELOCITY_STD = 0.1
SUCCESS_DISTANCE = 0.5
MIN_START_CELLS = 2  # Manhattan distance in cells between the start and the goal


class D4RLPointMaze(PointMazeEnv):
    """PointMaze medium with the D4RL fork's reset and success distance."""

    def __init__(self, render_mode: str | None = None):
        # continuing_task=False: otherwise the maze never terminates on success.
        super().__init__(maze_map=maps.MEDIUM_MAZE, render_mode=render_mode, continuing_task=False,
                         reset_target=False)
        # Set after construction: the constructor passes its keyword arguments on to the MuJoCo env too.
        self.position_noise_range = JITTER

    def _cell(self, xy: np.ndarray) -> np.ndarray:
        return np.asarray(self.maze.cell_xy_to_rowcol(np.asarray(xy, dtype=np.float64)))

    def generate_reset_pos(self) -> np.ndarray:
        goal_cell = self._cell(self.goal)
        far = [xy for xy in self.maze.unique_reset_locations
               if np.abs(self._cell(xy) - goal_cell).sum() >= MIN_START_CELLS]
        return far[self.np_random.integers(len(far))].copy()

    def reset(self, *, seed: int | None = None, **kwargs):
        obs, info = super().reset(seed=seed, **kwargs)
        point = self.point_env
        point.set_state(point.data.qpos.copy(), self.np_random.normal(0.0, INITIAL_VELOCITY_STD, size=2))
        obs = self._get_obs(np.concatenate([point.data.qpos, point.data.qvel]).ravel())
        info["success"] = self.reached(obs["achieved_goal"])
        return obs, info

    def reached(self, xy: np.ndarray) -> bool:
        return bool(np.linalg.norm(np.asarray(xy) - self.goal) <= SUCCESS_DISTANCE)

    def compute_reward(self, achieved_goal, desired_goal, info) -> float:
        return float(np.linalg.norm(achieved_goal - desired_goal, axis=-1) <= SUCCESS_DISTANCE)

    def compute_terminated(self, achieved_goal, desired_goal, info) -> bool:
        return bool(np.linalg.norm(achieved_goal - desired_goal) <= SUCCESS_DISTANCE)


class MazeEnv(FlatGoalEnv):
    """Flat-observation episodic maze; ``info['success']`` (within 0.5 of the goal) at reset and every
    step. ``options`` of ``reset`` may pin ``goal_cell`` / ``reset_cell`` (row, col)."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 50}

    def __init__(self, render_mode: str | None = None, terminate_on_success: bool = True):
        super().__init__(D4RLPointMaze(render_mode=render_mode), OBS_DIM, 2, render_mode)
        self.terminate_on_success = bool(terminate_on_success)

    @property
    def maze(self):
        """The gymnasium-robotics Maze: map layout and cell <-> xy transforms."""
        return self.sim_env.maze

    def _success(self, obs: dict, info: dict) -> bool:
        return self.sim_env.reached(obs["achieved_goal"])

    def step(self, action):
        obs, reward, success, truncated, info = super().step(action)
        return obs, reward, success and self.terminate_on_success, truncated, info
