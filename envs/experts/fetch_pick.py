"""Scripted Fetch pick-and-place expert: the authors' four-phase controller, acting from the 16-D obs.

Per step, in order, each phase until its condition holds (phases never go back):
1. approach: target = (object - gripper) + (0, 0, 0.03); xyz = 6 target, gripper +0.05 (opening);
   until |target| < 0.005;
2. grasp and descend: xyz = 6 (object - gripper), gripper -0.005 (closing); until |object - gripper| < 0.005;
3. carry: xyz = 6 (goal - object), gripper -0.005; until |goal - object| < 0.01;
4. hold: xyz = 0, gripper -0.005, to the end of the episode (which ends on success).
The action is clipped to [-1, 1], as the authors saved theirs. Deterministic.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

# 16-D obs layout: grip pos 0:3, object pos 3:6, object - grip 6:9, fingers 9:11,
# object rot x/y 11:13, goal 13:16.
GAIN = 6.0
OPEN, CLOSE = 0.05, -0.005
APPROACH_HEIGHT = 0.03
APPROACH_TOL, GRASP_TOL, CARRY_TOL = 0.005, 0.005, 0.01

APPROACH, GRASP, CARRY, HOLD = range(4)


class FetchPickExpert:
    description = (
        f"the authors' four-phase pick-and-place controller: approach {APPROACH_HEIGHT:g} above the object "
        f"(gripper +{OPEN:g}), grasp and descend (gripper {CLOSE:g}), carry to the goal, hold; xyz = {GAIN:g} x "
        f"offset; phase thresholds {APPROACH_TOL:g} / {GRASP_TOL:g} / {CARRY_TOL:g}; actions clipped to [-1, 1]; "
        "deterministic"
    )

    def __init__(self, env: gym.Env, rng: np.random.Generator):
        self.phase = APPROACH

    def reset(self, obs: np.ndarray) -> None:
        self.phase = APPROACH

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        obj, rel, goal = obs[3:6], obs[6:9], obs[13:16]
        target = rel + np.array([0.0, 0.0, APPROACH_HEIGHT])
        if self.phase == APPROACH and np.linalg.norm(target) < APPROACH_TOL:
            self.phase = GRASP
        if self.phase == GRASP and np.linalg.norm(rel) < GRASP_TOL:
            self.phase = CARRY
        if self.phase == CARRY and np.linalg.norm(goal - obj) < CARRY_TOL:
            self.phase = HOLD

        if self.phase == APPROACH:
            xyz, gripper = GAIN * target, OPEN
        elif self.phase == GRASP:
            xyz, gripper = GAIN * rel, CLOSE
        elif self.phase == CARRY:
            xyz, gripper = GAIN * (goal - obj), CLOSE
        else:
            xyz, gripper = np.zeros(3), CLOSE
        return np.clip(np.append(xyz, gripper), -1.0, 1.0).astype(np.float32)
