"""Maze task: PointMaze_Medium with random start/goal cells that ends on reaching the goal.

Stands in for the authors' maze2d-medium (D4RL fork). Observation is the flat
(x, y, vx, vy, goal_x, goal_y) vector.
"""

from __future__ import annotations

from gymnasium_robotics.envs.maze import maps
from gymnasium_robotics.envs.maze.point_maze import PointMazeEnv

from envs.flat_goal_env import FlatGoalEnv

OBS_DIM = 6


class MazeEnv(FlatGoalEnv):
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
        sim = PointMazeEnv(maze_map=maps.MEDIUM_MAZE, render_mode=render_mode, continuing_task=False,
                           reset_target=False)
        super().__init__(sim, OBS_DIM, 2, render_mode)

    @property
    def maze(self):
        """The gymnasium-robotics Maze: map layout and cell <-> xy transforms."""
        return self.sim_env.maze

    def _success(self, obs: dict, info: dict) -> bool:
        return bool(info["success"])  # PointMaze reports it at reset and every step
