"""FetchPick task: Fetch pick-and-place with the authors' narrow "holdout" sampler.

The object starts near the gripper's initial xy + (0, +0.10), the goal lies near
the gripper's initial xy + (0, -0.10), 0.15 m above the object's resting height.
Both sampling boxes are scaled by ``noise_ratio`` r. Following the authors'
sampler, the y range of each box opens away from the gripper: object
y offset in [0, 0.04 r], goal y offset in [-0.04 r, 0]; x offsets in
[-0.05 r, 0.05 r] for both.
"""

from __future__ import annotations

import numpy as np
from gymnasium_robotics.envs.fetch.pick_and_place import MujocoFetchPickAndPlaceEnv
from gymnasium_robotics.envs.robot_env import MujocoRobotEnv

from envs.flat_goal_env import FlatGoalEnv

OBS_DIM = 16
N_ROBOT_OBS = 13  # grip pos 3, object pos 3, object rel pos 3, fingers 2, object rot x/y 2

OBJECT_OFFSET = np.array([0.0, 0.10])
GOAL_OFFSET = np.array([0.0, -0.10])
GOAL_HEIGHT = 0.15
X_HALF_RANGE = 0.05
Y_SPAN = 0.04


class HoldoutPickAndPlaceSim(MujocoFetchPickAndPlaceEnv):
    """The gymnasium-robotics Fetch pick-and-place env with the narrow sampler."""

    def __init__(self, noise_ratio: float = 1.0, **kwargs):
        self.noise_ratio = float(noise_ratio)
        super().__init__(**kwargs)

    def _object_box(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.noise_ratio
        return np.array([-X_HALF_RANGE * r, 0.0]), np.array([X_HALF_RANGE * r, Y_SPAN * r])

    def _goal_box(self) -> tuple[np.ndarray, np.ndarray]:
        r = self.noise_ratio
        return np.array([-X_HALF_RANGE * r, -Y_SPAN * r]), np.array([X_HALF_RANGE * r, 0.0])

    def _reset_sim(self):
        # Skip the Fetch override (wide rejection sampler); keep the generic
        # reset of the MuJoCo data to the post-setup state.
        MujocoRobotEnv._reset_sim(self)
        object_xy = self.initial_gripper_xpos[:2] + OBJECT_OFFSET + self.np_random.uniform(*self._object_box())
        object_qpos = self._utils.get_joint_qpos(self.model, self.data, "object0:joint").copy()
        object_qpos[:2] = object_xy
        self._utils.set_joint_qpos(self.model, self.data, "object0:joint", object_qpos)
        self._mujoco.mj_forward(self.model, self.data)
        return True

    def _sample_goal(self):
        goal = self.initial_gripper_xpos[:3].copy()
        goal[:2] += GOAL_OFFSET + self.np_random.uniform(*self._goal_box())
        goal[2] = self.height_offset + GOAL_HEIGHT
        return goal


class FetchPickEnv(FlatGoalEnv):
    """Flat 16-D observation (first 13 Fetch obs entries + 3-D goal), ends on success.

    Success: object within 0.05 m of the goal (the Fetch ``is_success`` test),
    reported as ``info['success']`` at reset and every step. Reward is the
    sparse Fetch reward (-1 until success, 0 on success).
    """

    n_robot_obs = N_ROBOT_OBS

    def __init__(self, noise_ratio: float = 1.0, render_mode: str | None = None):
        self.noise_ratio = float(noise_ratio)
        super().__init__(HoldoutPickAndPlaceSim(noise_ratio=noise_ratio, render_mode=render_mode),
                         OBS_DIM, 4, render_mode)
