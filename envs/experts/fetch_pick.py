"""Scripted Fetch pick-and-place expert (four phases) acting from the 16-D obs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

# 16-D obs layout: grip pos 0:3, object pos 3:6, object - grip 6:9, fingers 9:11,
# object rot x/y 11:13, goal 13:16.
GAIN = 10.0  # one action unit moves the mocap 0.05 m
HOVER = 0.05  # height above the object before descending
XY_TOL = 0.01
Z_TOL = 0.01
CLOSE_STEPS = 3
GRASP_LOST = 0.04  # object this far from the gripper while carrying -> start over
OPEN, CLOSE = 1.0, -1.0

APPROACH, DESCEND, GRASP, CARRY = range(4)


class FetchPickExpert:
    """Above the object -> descend -> close the gripper a few steps -> carry to the goal."""

    description = (
        "scripted four-phase pick-and-place: P-controller (gain 10, clipped) moves above the object, "
        "descends, closes the gripper for 3 steps, carries the object to the goal; deterministic"
    )

    def __init__(self, env: gym.Env, rng: np.random.Generator):
        self._rng = rng
        self.phase = APPROACH
        self._closed_for = 0

    def reset(self, obs: np.ndarray) -> None:
        self.phase = APPROACH
        self._closed_for = 0

    @staticmethod
    def _move(delta: np.ndarray, gripper: float) -> np.ndarray:
        action = np.append(np.clip(GAIN * delta, -1.0, 1.0), gripper)
        return action.astype(np.float32)

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        grip, obj, goal = obs[0:3], obs[3:6], obs[13:16]
        rel = obj - grip

        if self.phase == CARRY and np.linalg.norm(rel) > GRASP_LOST:
            self.phase, self._closed_for = APPROACH, 0
        if self.phase == APPROACH and np.linalg.norm(rel[:2]) < XY_TOL:
            self.phase = DESCEND
        if self.phase == DESCEND:
            if np.linalg.norm(rel[:2]) > 2 * XY_TOL:
                self.phase = APPROACH
            elif abs(rel[2]) < Z_TOL:
                self.phase = GRASP
        if self.phase == GRASP and self._closed_for >= CLOSE_STEPS:
            self.phase = CARRY

        if self.phase == APPROACH:
            target = obj + np.array([0.0, 0.0, HOVER])
            if np.linalg.norm(rel[:2]) > 2 * XY_TOL:
                # Do not descend before being above the object: the open fingers would hit it.
                target[2] = max(target[2], grip[2])
            return self._move(target - grip, OPEN)
        if self.phase == DESCEND:
            return self._move(rel, OPEN)
        if self.phase == GRASP:
            self._closed_for += 1
            return self._move(np.zeros(3), CLOSE)
        return self._move(goal - obj, CLOSE)
