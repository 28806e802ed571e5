"""Network building blocks shared by methods and experts."""
from __future__ import annotations

from torch import nn


def mlp(in_dim: int, hidden: list[int], out_dim: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), activation()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)
