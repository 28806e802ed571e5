"""The baseline each suite trainer is timed against: the same network, loss and batch written as a
plain PyTorch loop (DataLoader batches, default Adam, gradient clipping, the loss read back every
batch), the way a user would write it without the suite.

It deliberately imports nothing of the suite (only torch), so the baseline cannot inherit the
suite's optimisations; tests/test_benchmark.py checks that and that its networks have the suite's
parameter counts. DBC's frozen diffusion model stays in autograd here (its weight gradients are
computed and thrown away), as in a loop that only leaves it out of the optimizer.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


@dataclass(frozen=True)
class Sizes:
    """What a loop needs of a method's config; the suite side fills it (benchmarks.trainers)."""

    obs_dim: int
    act_dim: int
    batch: int
    hidden: tuple[int, ...]
    counter_examples: int = 0   # Implicit BC: negatives per expert pair
    timesteps: int = 0          # Diffusion Policy: diffusion steps
    time_embed_dim: int = 0     # Diffusion Policy: timestep embedding width
    dm_width: int = 0           # DBC: the frozen diffusion model's width
    dm_timesteps: int = 0       # DBC: its diffusion steps


Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), activation()]
    return nn.Sequential(*layers[:-1])


class Denoiser(nn.Module):
    """eps(x_t, t): three hidden layers, each plus a learned embedding of t, then ReLU."""

    def __init__(self, dim: int, width: int, timesteps: int):
        super().__init__()
        self.hidden = nn.ModuleList([nn.Linear(dim, width)] + [nn.Linear(width, width) for _ in range(2)])
        self.embed = nn.ModuleList([nn.Embedding(timesteps, width) for _ in range(3)])
        self.out = nn.Linear(width, dim)

    def forward(self, x, t):
        for linear, embed in zip(self.hidden, self.embed):
            x = F.relu(linear(x) + embed(t))
        return self.out(x)


class EpsNet(nn.Module):
    """eps(a_t, s, t): Mish MLP on [a_t, s, MLP(sinusoid(t))]."""

    def __init__(self, s: Sizes):
        super().__init__()
        e = s.time_embed_dim
        self.freqs = torch.exp(-math.log(10000.0) * torch.arange(e // 2) / max(1, e // 2 - 1))
        self.time_mlp = mlp([e, 2 * e, e], nn.Mish)
        self.trunk = mlp([s.act_dim + s.obs_dim + e, *s.hidden, s.act_dim], nn.Mish)

    def forward(self, noisy, obs, t):
        angles = t.float().unsqueeze(-1) * self.freqs
        emb = self.time_mlp(torch.cat([angles.sin(), angles.cos()], -1))
        return self.trunk(torch.cat([noisy, obs, emb], -1))


def noising(alpha_bar: torch.Tensor):
    """q(x_t | x_0) of a schedule given by its cumulative alphas."""
    return lambda x0, noise, t: alpha_bar[t, None].sqrt() * x0 + (1 - alpha_bar[t, None]).sqrt() * noise


def sigmoid_alpha_bar(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """The DBC authors' schedule (their diffusion model's)."""
    betas = torch.sigmoid(torch.linspace(-6, 6, timesteps)) * (beta_end - beta_start) + beta_start
    return torch.cumprod(1 - betas, 0)


def cosine_alpha_bar(timesteps: int) -> torch.Tensor:
    """The capped cosine schedule (Nichol & Dhariwal; diffusers' squaredcos_cap_v2)."""
    f = lambda u: torch.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
    steps = torch.arange(timesteps, dtype=torch.float64)
    betas = (1 - f((steps + 1) / timesteps) / f(steps / timesteps)).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


def bc(s: Sizes) -> tuple[nn.Module, Loss]:
    net = mlp([s.obs_dim, *s.hidden, s.act_dim], nn.Tanh)
    return net, lambda obs, act: F.mse_loss(net(obs), act)


def dbc(s: Sizes) -> tuple[nn.Module, Loss]:
    net, bc_loss = bc(s)
    dm = Denoiser(s.obs_dim + s.act_dim, s.dm_width, s.dm_timesteps)
    add_noise = noising(sigmoid_alpha_bar(s.dm_timesteps))

    def loss(obs, act):
        t = torch.randint(0, s.dm_timesteps, (len(obs),))
        noise = torch.randn(len(obs), s.obs_dim + s.act_dim)
        agent = F.mse_loss(dm(add_noise(torch.cat([obs, net(obs)], 1), noise, t), t), noise)
        expert = F.mse_loss(dm(add_noise(torch.cat([obs, act], 1), noise, t), t), noise)
        dm.zero_grad()
        return bc_loss(obs, act) + torch.clamp(agent - expert, min=0)

    return net, loss


def ibc(s: Sizes) -> tuple[nn.Module, Loss]:
    net = mlp([s.obs_dim + s.act_dim, *s.hidden, 1], nn.ReLU)
    n = s.counter_examples

    def loss(obs, act):
        low, high = act.min(0).values, act.max(0).values
        candidates = torch.cat([act.unsqueeze(1), low + (high - low) * torch.rand(len(obs), n, s.act_dim)], 1)
        rows = torch.cat([obs.unsqueeze(1).expand(-1, n + 1, -1), candidates], -1)
        return F.cross_entropy(-net(rows).squeeze(-1), torch.zeros(len(obs), dtype=torch.long))

    return net, loss


def diffusion_policy(s: Sizes) -> tuple[nn.Module, Loss]:
    net = EpsNet(s)
    add_noise = noising(cosine_alpha_bar(s.timesteps))

    def loss(obs, act):
        t = torch.randint(0, s.timesteps, (len(obs),))
        noise = torch.randn_like(act)
        return F.mse_loss(net(add_noise(act, noise, t), obs, t), noise)

    return net, loss


# A method's plain loop, by its registered name; a method without one is timed alone.
LOOPS: dict[str, Callable[[Sizes], tuple[nn.Module, Loss]]] = {
    "bc": bc, "dbc": dbc, "ibc": ibc, "diffusion_policy": diffusion_policy}


def rate(method: str, s: Sizes, obs: torch.Tensor, act: torch.Tensor, updates: int) -> float:
    """Updates per second of `updates` plain updates on these tensors."""
    net, loss_fn = LOOPS[method](s)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, eps=1e-12)
    loader = DataLoader(TensorDataset(obs, act), batch_size=s.batch, shuffle=True, drop_last=True)
    done, start = 0, time.perf_counter()
    while done < updates:
        for obs_b, act_b in loader:
            loss = loss_fn(obs_b, act_b)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 0.5)
            opt.step()
            loss.item()
            done += 1
            if done >= updates:
                break
    return done / (time.perf_counter() - start)
