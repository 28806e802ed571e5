"""Scripted maze expert: D4RL's waypoint controller, as the authors recorded their demonstrations.

Waypoints are the centres of the cells on a shortest cell path (breadth-first over the free cells)
from the start to the goal cell, then the goal itself. The action is
a = clip(10 (waypoint - pos) - 1 vel, -1, 1); the controller moves on to the next waypoint only when
within 0.1 of the current one and having moved less than 0.1 since the last step, so it nearly stops
at every cell centre. The demonstration is solved (``done``) when it is within 0.1 of the goal and
slow; the data stage ends the episode there. The recorded action carries N(0, 0.5^2) noise, clipped
to [-1, 1].
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np

KP = 10.0
KD = 1.0
NOISE_STD = 0.5
WAYPOINT_RADIUS = 0.1  # "at" a waypoint, and "at" the goal
SLOW = 0.1  # displacement since the last step below which the ball counts as at rest
_MOVES = ((1, 0), (-1, 0), (0, 1), (0, -1))


class MazeExpert:
    """Reads only the static maze layout and its cell <-> xy transform from the env; acts from the 6-D
    obs (x, y, vx, vy, goal_x, goal_y)."""

    description = (
        f"D4RL waypoint controller: shortest cell path, a = clip({KP:g} (waypoint - pos) - {KD:g} vel, -1, 1), "
        f"next waypoint when within {WAYPOINT_RADIUS:g} and slow, solved within {WAYPOINT_RADIUS:g} of the goal "
        f"and slow; N(0, {NOISE_STD:g}^2) action noise, clipped to [-1, 1]"
    )

    def __init__(self, env: gym.Env, rng: np.random.Generator, noise_std: float = NOISE_STD):
        self._maze = env.unwrapped.maze
        self._free = np.array(self._maze.maze_map) != 1
        self._rng = rng
        self.noise_std = noise_std
        self._waypoints: list[np.ndarray] = []
        self._index = 0
        self._previous: np.ndarray | None = None
        self.done = False

    def _cell_of(self, xy: np.ndarray) -> tuple[int, int]:
        i, j = self._maze.cell_xy_to_rowcol(np.asarray(xy, dtype=np.float64))
        return int(i), int(j)

    def _path(self, start: tuple[int, int], goal: tuple[int, int]) -> list[tuple[int, int]]:
        """The cells after `start` on a shortest path to `goal` (breadth-first from the goal)."""
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
        path, cell = [], start
        while cell != goal:
            cell = min(((cell[0] + di, cell[1] + dj) for di, dj in _MOVES if dist[cell[0] + di, cell[1] + dj] >= 0),
                       key=lambda n: dist[n])
            path.append(cell)
        return path

    def reset(self, obs: np.ndarray) -> None:
        obs = np.asarray(obs, dtype=np.float64)
        cells = self._path(self._cell_of(obs[:2]), self._cell_of(obs[4:6]))
        # The goal cell's centre is not a waypoint: the goal itself is the last one.
        self._waypoints = [np.asarray(self._maze.cell_rowcol_to_xy(np.array(c)), dtype=np.float64)
                           for c in cells[:-1]] + [obs[4:6].copy()]
        self._index = 0
        self._previous = obs[:2].copy()
        self.done = False

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        pos, vel = obs[:2], obs[2:4]
        slow = np.linalg.norm(pos - self._previous) < SLOW
        self._previous = pos.copy()
        self.done = bool(np.linalg.norm(pos - obs[4:6]) < WAYPOINT_RADIUS and slow)
        waypoint = self._waypoints[self._index]
        action = np.clip(KP * (waypoint - pos) - KD * vel, -1.0, 1.0)
        last = self._index == len(self._waypoints) - 1
        if not last and np.linalg.norm(pos - waypoint) < WAYPOINT_RADIUS and slow:
            self._index += 1
        action = action + self._rng.normal(0.0, self.noise_std, size=2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
