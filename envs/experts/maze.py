"""Scripted maze expert: BFS over maze cells + PD waypoint controller + Gaussian noise."""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np

KP = 10.0
KD = 1.0
NOISE_STD = 0.5
_MOVES = ((1, 0), (-1, 0), (0, 1), (0, -1))


class MazeExpert:
    """Steers towards the centre of the next cell on a shortest cell path to the goal.

    Reads only the static maze layout and its cell <-> xy transform from the env;
    acts from the 6-D obs (x, y, vx, vy, goal_x, goal_y).
    """

    description = (
        "BFS shortest path over maze cells + PD waypoint controller "
        f"a = clip({KP:g} (waypoint - pos) - {KD:g} vel, -1, 1), waypoints = next cell centres "
        f"then the goal, N(0, {NOISE_STD:g}^2) action noise, clipped to [-1, 1]"
    )

    def __init__(self, env: gym.Env, rng: np.random.Generator, noise_std: float = NOISE_STD):
        maze = env.unwrapped.maze
        self._maze = maze
        self._free = np.array(maze.maze_map) != 1
        self._rng = rng
        self.noise_std = noise_std
        self._dist: np.ndarray | None = None
        self._goal_cell: tuple[int, int] | None = None
        self._cell: tuple[int, int] | None = None

    def _cell_of(self, xy: np.ndarray) -> tuple[int, int]:
        i, j = self._maze.cell_xy_to_rowcol(np.asarray(xy, dtype=np.float64))
        return int(i), int(j)

    def _distances_to(self, goal: tuple[int, int]) -> np.ndarray:
        dist = np.full(self._free.shape, -1, dtype=int)
        dist[goal] = 0
        queue = deque([goal])
        while queue:
            i, j = queue.popleft()
            for di, dj in _MOVES:
                n = (i + di, j + dj)
                if self._free[n] and dist[n] < 0:
                    dist[n] = dist[i, j] + 1
                    queue.append(n)
        return dist

    def reset(self, obs: np.ndarray) -> None:
        goal_cell = self._cell_of(obs[4:6])
        if goal_cell != self._goal_cell:
            self._goal_cell = goal_cell
            self._dist = self._distances_to(goal_cell)
        self._cell = None

    def _waypoint(self, obs: np.ndarray) -> np.ndarray:
        cell = self._cell_of(obs[:2])
        # The ball's centre cannot enter a wall cell; keep the last valid cell if
        # rounding at a cell boundary ever says otherwise.
        if self._free[cell] and self._dist[cell] >= 0:
            self._cell = cell
        cell = self._cell if self._cell is not None else cell
        if cell == self._goal_cell:
            return np.asarray(obs[4:6], dtype=np.float64)
        i, j = cell
        nxt = min(
            ((i + di, j + dj) for di, dj in _MOVES if self._free[i + di, j + dj]),
            key=lambda n: self._dist[n] if self._dist[n] >= 0 else np.inf,
        )
        return np.asarray(self._maze.cell_rowcol_to_xy(np.array(nxt)), dtype=np.float64)

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        waypoint = self._waypoint(obs)
        action = np.clip(KP * (waypoint - obs[:2]) - KD * obs[2:4], -1.0, 1.0)
        action = action + self._rng.normal(0.0, self.noise_std, size=2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
