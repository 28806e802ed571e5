"""Imitation-learning methods. Each is one module with:

- `Config`: a dataclass of its hyperparameters (subclass of `methods.train.TrainConfig`);
- `build(cfg, obs_dim, act_dim, context) -> Agent`: the trainable module, where an Agent has
  `loss(obs, act) -> (loss, {name: tensor})` and `act(obs) -> action`, on z-scored tensors.
  A method that learns by interacting with the environment (GAIL) instead sets `ONLINE = True`
  and provides `train_online(...) -> (agent, TrainResult)`; evaluation is the same.

The pipeline (data, normalisation, training loop, checkpoints, evaluation) is shared, so adding a
method is one module plus its configs in config/methods/<method>/<task>.yaml.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from methods.core import BenchError

# name -> module.
METHODS = {
    "bc": "methods.bc",
    "dbc": "methods.dbc",
    "ibc": "methods.ibc",
    "diffusion_policy": "methods.diffusion_policy",
    "gail": "methods.gail",  # online: trains through its own loop (ONLINE = True, train_online)
}
# Variants: a base method with their own configs (config/methods/<variant>/); they follow the
# base method's budget overrides unless a budget names them.
VARIANTS = {
    "bc_l2": "bc",        # BC + L2 weight decay: does DBC beat plain regularisation?
    "dbc_nonorm": "dbc",  # DBC without the expert-loss subtraction (the authors' ablation)
}


def split_method(spec: str) -> tuple[str, dict]:
    """'dbc@lambda_dm=0.5@epochs=10' -> ('dbc', {'lambda_dm': 0.5, 'epochs': 10}): a method with
    hyperparameter overrides, as sweeps name their runs."""
    import yaml

    name, *pairs = spec.split("@")
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchError(f"method '{spec}': expected name@key=value, got '{pair}'")
        overrides[key] = yaml.safe_load(value)
    return name, overrides


def base_method(spec: str) -> str:
    """The method whose module runs `spec` ('dbc_nonorm@lambda_dm=1' -> 'dbc')."""
    name, _ = split_method(spec)
    base = VARIANTS.get(name, name)
    if base not in METHODS:
        raise BenchError(f"unknown method '{name}'; choose from {', '.join(sorted({*METHODS, *VARIANTS}))}")
    return base


def get_method(spec: str) -> ModuleType:
    return importlib.import_module(METHODS[base_method(spec)])
