"""Huber BC: an example of a method that lives outside the suite.

Behavioural cloning fit with the Huber loss instead of the squared error, so a few outlying expert
actions pull the policy less. It extends the suite's BC (`config_base="bc"`): it reads BC's per-task
config files and the budget's BC settings, and adds one field. Register it without editing the suite:

    PYTHONPATH=examples/huber_bc snakemake --cores 2 all --config method_modules=[huber_bc] methods=[huber_bc]
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dbc_bench.fields import option
from methods import bc
from methods.registry import MethodSpec


@dataclass
class Config(bc.Config):
    huber_delta: float = option(1.0, "error (z-scored action units) where the loss turns from squared to linear",
                                gt=0)


class Policy(bc.Policy):
    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], delta: float):
        super().__init__(obs_dim, act_dim, hidden)
        self.delta = delta

    def loss(self, obs: torch.Tensor, act: torch.Tensor):
        loss = F.huber_loss(self.net(obs), act, delta=self.delta)
        return loss, {"huber_loss": loss.detach()}


def build(cfg: Config, obs_dim: int, act_dim: int, context: dict | None = None) -> Policy:
    return Policy(obs_dim, act_dim, cfg.hidden, cfg.huber_delta)


METHOD = MethodSpec(name="huber_bc", label="Huber BC", config=Config, build=build, config_base="bc", rank=50)
