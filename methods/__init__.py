"""Imitation-learning methods. Each is one module with:

- `Config`: a dataclass of its hyperparameters (subclass of `methods.train.TrainConfig`);
- `build(cfg, obs_dim, act_dim, context) -> Agent`: the trainable module, where an Agent has
  `loss(obs, act) -> (loss, {name: tensor})` and `act(obs) -> action`, on z-scored tensors.

The pipeline (data, normalisation, training loop, checkpoints, evaluation) is shared, so adding a
method is one module plus its configs in config/methods/<method>/<task>.yaml.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from methods.core import BenchError

# name -> module; a method whose module is not written yet is simply absent.
METHODS = {
    "bc": "methods.bc",
    "dbc": "methods.dbc",
}


def get_method(name: str) -> ModuleType:
    if name not in METHODS:
        raise BenchError(f"unknown method '{name}'; choose from {', '.join(sorted(METHODS))}")
    return importlib.import_module(METHODS[name])
