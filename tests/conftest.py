import os

import pytest
import torch

# Tests must not fight over the 2 cores (Snakemake jobs and torch both want them).
torch.set_num_threads(1)
os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
