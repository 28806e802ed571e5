"""HandRotate task: Shadow-hand block rotation about z, the authors' narrow variant.

Initial block z-angle ~ U(-pi/6, pi/6), target z-angle ~ U(pi/3, 2pi/3);
success when the rotation error is below 0.1 rad (position is ignored). As in the authors' default
"easy" mode, the goal's three position entries in the observation are zero: only the target
orientation is given.
"""

from __future__ import annotations

import numpy as np
from gymnasium_robotics.envs.robot_env import MujocoRobotEnv
from gymnasium_robotics.envs.shadow_dexterous_hand.manipulate import quat_from_angle_and_axis
from gymnasium_robotics.envs.shadow_dexterous_hand.manipulate_block import MujocoHandBlockEnv
from gymnasium_robotics.utils import rotations

from envs.flat_goal_env import FlatGoalEnv

OBS_DIM = 68
N_ROBOT_OBS = 61

INITIAL_ANGLE_RANGE = (-np.pi / 6, np.pi / 6)
TARGET_ANGLE_RANGE = (np.pi / 3, 2 * np.pi / 3)
INITIAL_POSITION_STD = 0.005  # as in gymnasium-robotics
SETTLE_STEPS = 10
Z_AXIS = np.array([0.0, 0.0, 1.0])


class NarrowRotateZBlockSim(MujocoHandBlockEnv):
    """HandManipulateBlockRotateZ-v1 with narrow initial and target z-angle ranges."""

    def __init__(self, **kwargs):
        super().__init__(target_position="ignore", target_rotation="z", **kwargs)

    def _reset_sim(self):
        # The generic reset also clears controls and solver warm-starts (the
        # manipulate env's own reset does not), so a seeded reset does not
        # depend on the previous episode.
        MujocoRobotEnv._reset_sim(self)
        qpos = self._utils.get_joint_qpos(self.model, self.data, "object:joint").copy()
        angle = self.np_random.uniform(*INITIAL_ANGLE_RANGE)
        quat = rotations.quat_mul(qpos[3:], quat_from_angle_and_axis(angle, Z_AXIS.copy()))
        pos = qpos[:3] + self.np_random.normal(scale=INITIAL_POSITION_STD, size=3)
        qpos = np.concatenate([pos, quat / np.linalg.norm(quat)])
        self._utils.set_joint_qpos(self.model, self.data, "object:joint", qpos)

        # Let the block settle on the palm with the hand at rest.
        for _ in range(SETTLE_STEPS):
            self._set_action(np.zeros(20))
            try:
                self._mujoco.mj_step(self.model, self.data, nstep=self.n_substeps)
            except Exception:
                return False
        self._mujoco.mj_forward(self.model, self.data)
        centre = self.data.site_xpos[self._model_names.site_name2id["object:center"]]
        return bool(centre[2] > 0.04)

    def _sample_goal(self):
        pos = self._utils.get_joint_qpos(self.model, self.data, "object:joint")[:3].copy()
        angle = self.np_random.uniform(*TARGET_ANGLE_RANGE)
        quat = quat_from_angle_and_axis(angle, Z_AXIS.copy())
        return np.concatenate([pos, quat / np.linalg.norm(quat)])


GOAL_POSITION = slice(N_ROBOT_OBS, N_ROBOT_OBS + 3)  # the goal's position in the flat observation


class HandRotateEnv(FlatGoalEnv):
    """Flat 68-D observation (61 hand/block obs + 7-D goal pose, its position zeroed), ends on success.

    ``info['success']`` (rotation error < 0.1 rad) is present at reset and every
    step. Reward is the sparse hand reward (-1 until success, 0 on success).
    """

    def __init__(self, render_mode: str | None = None):
        super().__init__(NarrowRotateZBlockSim(render_mode=render_mode), OBS_DIM, 20, render_mode)

    def goal_view(self, goal: np.ndarray) -> np.ndarray:
        goal = np.array(goal, dtype=np.float64)
        goal[..., :3] = 0.0  # easy mode: the target orientation only
        return goal

    def rotation_error(self) -> float:
        """Current angle (rad) between the block's and the target's orientation."""
        achieved = self.sim_env._get_achieved_goal().copy()
        return float(self.sim_env._goal_distance(achieved, self.sim_env.goal)[1])

