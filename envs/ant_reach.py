"""AntReach task: the authors' Ant goal-reaching task on gymnasium's Ant model.

The task, as the authors ran it (their ``AntGoal-v0``: dbc/envs/ant.py and configs/antReach in
NTURobotLearningLab/DBC):

- the goal lies on the radius-5 semicircle ahead of the ant, at an angle drawn uniformly from
  [0, pi]; 8 torque actions in [-1, 1]; 50 steps; no early termination;
- success when the torso's xy is within 0.1 x 5 = 0.5 of the goal (``info['success']``, at reset
  and every step; the evaluation counts an episode as successful if any step was);
- reset: the ant standing with its ankles bent (torso height 0.55, hips 0, ankles +-1 rad), every
  joint position plus uniform noise of +-0.01 ("start noise"), velocities uniform +-0.005;
- reward: 1 - distance / 5 - 0.005 |a|^2 - 0.0005 sum(clip(external contact forces, -1, 1)^2).

Differences from the authors' model file, and why:

- Gymnasium's ``ant.xml`` (the same bodies, joints, ranges and gears as theirs) integrates with a
  0.01 s step; theirs used 0.02 s with 5 frames per action. ``frame_skip`` 10 keeps their 0.1 s
  control period, so that 50 steps are 5 s of motion as in their episodes.
- Their model carries the goal as a marker body with a free joint (touching only the floor), which is why
  their observation has 42 entries: qpos[2:] (13 of the ant, 7 of the marker), qvel (14 and 6)
  and goal - torso xy (2). The marker only rests on the floor, so its entries here are its resting
  pose: the goal's xy, height 0, identity orientation and zero velocity. A policy sees the same
  layout; the constant entries carry no information in either version.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.utils import EzPickle

OBS_DIM = 42
GOAL_DISTANCE = 5.0
SUCCESS_FRACTION = 0.1           # success: distance / GOAL_DISTANCE below this
START_NOISE = 0.01               # uniform noise on every joint position at reset
VELOCITY_NOISE = 0.005           # uniform noise on every joint velocity at reset
FRAME_SKIP = 10                  # 10 x 0.01 s: the authors' 0.1 s control period
# Torso xyz, orientation (w, x, y, z), then hip/ankle pairs of the four legs in the model's order.
STANDING_QPOS = np.array([0.0, 0.0, 0.55, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0])
MARKER_QPOS, MARKER_QVEL = 7, 6  # the authors' goal marker's free joint


class AntReachEnv(MujocoEnv, EzPickle):
    """Ant reaching a goal on a semicircle; flat float32 observation of 42 entries (see the module doc)."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 10}

    def __init__(self, start_noise: float = START_NOISE, render_mode: str | None = None):
        EzPickle.__init__(self, start_noise, render_mode)
        self.start_noise = float(start_noise)
        observation_space = spaces.Box(-np.inf, np.inf, shape=(OBS_DIM,), dtype=np.float32)
        MujocoEnv.__init__(self, "ant.xml", FRAME_SKIP, observation_space=observation_space,
                           render_mode=render_mode, default_camera_config={"distance": 12.0, "elevation": -20.0})
        self.goal = np.array([0.0, GOAL_DISTANCE])

    def torso_xy(self) -> np.ndarray:
        return self.data.body("torso").xpos[:2].copy()

    def distance(self) -> float:
        return float(np.linalg.norm(self.torso_xy() - self.goal))

    def reached(self) -> bool:
        return self.distance() / GOAL_DISTANCE < SUCCESS_FRACTION

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        self.do_simulation(action, self.frame_skip)
        contact = np.clip(self.data.cfrc_ext, -1.0, 1.0)
        reward = (1.0 - self.distance() / GOAL_DISTANCE - 0.005 * float(np.square(action).sum())
                  - 0.0005 * float(np.square(contact).sum()))
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, False, False, {"success": self.reached(), "distance": self.distance()}

    def reset_model(self):
        angle = self.np_random.uniform(0.0, np.pi)
        self.goal = GOAL_DISTANCE * np.array([np.cos(angle), np.sin(angle)])
        qpos = STANDING_QPOS + self.np_random.uniform(-self.start_noise, self.start_noise, self.model.nq)
        qvel = self.np_random.uniform(-VELOCITY_NOISE, VELOCITY_NOISE, self.model.nv)
        self.set_state(qpos, qvel)
        return self._get_obs()

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        info["success"] = self.reached()
        return obs, info

    def _get_obs(self):
        marker_qpos = np.array([*self.goal, 0.0, 1.0, 0.0, 0.0, 0.0])
        return np.concatenate([self.data.qpos[2:], marker_qpos, self.data.qvel, np.zeros(MARKER_QVEL),
                               self.goal - self.torso_xy()]).astype(np.float32)
