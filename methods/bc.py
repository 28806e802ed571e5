"""Behavioral cloning as the DBC authors ran it.

A deterministic Tanh MLP with orthogonal init maps z-scored states to z-scored actions and is
fit by mean squared error (Adam eps 1e-12, linear learning-rate decay, grad-norm clip 0.5 and
batch 128 come from TrainConfig). With `weight_decay > 0` it is the L2-regularised BC baseline
(`bc_l2`) that asks whether DBC's gain exceeds plain regularisation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dbc_bench.fields import option
from dbc_bench.nets import mlp
from methods.core import orthogonal_init
from methods.registry import MethodSpec, Variant
from methods.train import TrainConfig


@dataclass
class Config(TrainConfig):
    hidden: list[int] = option([256, 256], "policy hidden widths (Tanh)", item_gt=0)


class Policy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int]):
        super().__init__()
        self.net = orthogonal_init(mlp(obs_dim, hidden, act_dim, nn.Tanh))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)

    def loss(self, obs: torch.Tensor, act: torch.Tensor):
        bc = F.mse_loss(self.net(obs), act)
        return bc, {"bc_loss": bc.detach()}


def build(cfg: Config, obs_dim: int, act_dim: int, context: dict | None = None) -> Policy:
    return Policy(obs_dim, act_dim, cfg.hidden)


METHOD = MethodSpec(
    name="bc", label="BC", config=Config, build=build, rank=0,
    # BC + L2 weight decay: does DBC's gain exceed plain regularisation? (the reviewers' question)
    variants=(Variant("bc_l2", "BC + L2", {"weight_decay": 1.0e-4}, rank=5),),
)
