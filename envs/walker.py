"""Walker task: Walker2d-v5 with float32 observations.

A return task: its info carries no 'success' key (there is no success notion).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

OBS_DIM = 17


class WalkerEnv(Walker2dEnv):
    """Walker2d-v5 (default kwargs) whose observation space is a float32 Box."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        shape = self.observation_space.shape
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)

    def _get_obs(self):
        return super()._get_obs().astype(np.float32)
