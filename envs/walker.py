"""Walker task: Walker2d-v5 on v3's model, with float32 observations.

The authors ran Walker2d-v3 (mujoco_py). Gymnasium's v5 code with its ``walker2d.xml`` asset is
v3's model: foot friction 0.9 on the right foot and 1.9 on the left (v5's own model sets both to
1.9, which makes walking easier and changes the gait). The one other difference from v3 is v5's fix
that pays no healthy reward on the step that ends an episode by falling (at most 1 per episode).

A return task: its info carries no 'success' key (there is no success notion).
"""

from __future__ import annotations

from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

from envs.mujoco_model import OnV3Model

OBS_DIM = 17


class WalkerEnv(OnV3Model, Walker2dEnv):
    """Walker2d-v5 on v3's model (default kwargs otherwise) whose observation space is a float32 Box."""

    MODEL = "walker2d.xml"  # gymnasium's copy of v3's model
