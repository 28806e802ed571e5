"""Cheetah task: HalfCheetah-v5 on v3's model, with float32 observations.

The authors ran HalfCheetah-v3 (mujoco_py). Gymnasium's v5 reads the same model file as v3
(``half_cheetah.xml``: v2 to v5 share it) and keeps v3's reward (forward velocity minus 0.1 x the
squared action), reset noise (positions uniform +-0.1, velocities 0.1 x normal) and 1000-step
limit without early termination; so v5 with its default model is v3's task on the maintained
bindings. A return task: its info carries no 'success' key.
"""

from __future__ import annotations

from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from envs.mujoco_model import OnV3Model

OBS_DIM = 17


class CheetahEnv(OnV3Model, HalfCheetahEnv):
    """HalfCheetah-v5 on v3's model (default kwargs otherwise) whose observation space is a float32 Box."""

    MODEL = "half_cheetah.xml"  # gymnasium's copy of v3's model
