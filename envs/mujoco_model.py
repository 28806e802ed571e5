"""Gymnasium's v5 MuJoCo locomotion envs on the model file the authors' v3 envs used, with float32
observations (the suite's dtype for every task). Shared by the walker and cheetah tasks."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces


class OnV3Model:
    """Mixin placed before a gymnasium v5 MuJoCo env class: loads the class's MODEL (a file name among
    gymnasium's assets) and turns the observation space and observations into float32."""

    MODEL: str

    def __init__(self, **kwargs):
        super().__init__(xml_file=self.MODEL, **kwargs)
        shape = self.observation_space.shape
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)

    def _get_obs(self):
        return super()._get_obs().astype(np.float32)
