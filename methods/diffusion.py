"""The DBC authors' diffusion model of expert (state, action) pairs.

A DDPM with epsilon prediction on the z-scored joint vector x = [s, a]. The noise schedule comes
from diffusers' DDPMScheduler (its 'sigmoid' schedule is the authors' formula:
beta_t = sigmoid(linspace(-6, 6, T)) * (beta_end - beta_start) + beta_start); the forward process
is applied here with precomputed tensors so a training step pays no per-call conversions.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from methods.core import BenchError
from methods.train import TrainConfig


@dataclass
class Config(TrainConfig):
    """Pre-training settings (config/diffusion_model/<task>.yaml)."""

    width: int = 1024
    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    holdout_fraction: float = 0.05  # pairs kept out of training to report a held-out loss

    def validate(self, source: str) -> None:
        super().validate(source)
        for name in ("width", "timesteps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise BenchError(f"{source}: field '{name}' must be a positive integer, got {value!r}")
        if not 0 <= self.holdout_fraction < 0.5:
            raise BenchError(f"{source}: field 'holdout_fraction' must be in [0, 0.5), got {self.holdout_fraction!r}")


class NoiseSchedule(nn.Module):
    """sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t) for the forward process q(x_t | x_0)."""

    def __init__(self, timesteps: int, beta_start: float, beta_end: float, kind: str = "sigmoid"):
        super().__init__()
        from diffusers import DDPMScheduler

        scheduler = DDPMScheduler(num_train_timesteps=timesteps, beta_schedule=kind,
                                  beta_start=beta_start, beta_end=beta_end)
        alpha_bar = scheduler.alphas_cumprod.float()
        self.timesteps = timesteps
        self.register_buffer("betas", scheduler.betas.float())
        self.register_buffer("sqrt_alpha_bar", alpha_bar.sqrt())
        self.register_buffer("sqrt_one_minus_alpha_bar", (1 - alpha_bar).sqrt())

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.sqrt_alpha_bar[t, None] * x0 + self.sqrt_one_minus_alpha_bar[t, None] * noise

    def antithetic_timesteps(self, batch: int, device: torch.device) -> torch.Tensor:
        """t for half the batch and T-1-t for the other half (lower-variance loss estimates)."""
        half = torch.randint(0, self.timesteps, ((batch + 1) // 2,), device=device)
        return torch.cat([half, self.timesteps - 1 - half])[:batch]


class DiffusionMLP(nn.Module):
    """eps_phi(x_t, t): in -> H -> H -> H -> out, a learned embedding of t added after each
    hidden Linear, before its ReLU (the authors' architecture)."""

    def __init__(self, dim: int, width: int, timesteps: int):
        super().__init__()
        self.hidden = nn.ModuleList([nn.Linear(dim, width), nn.Linear(width, width), nn.Linear(width, width)])
        self.embed = nn.ModuleList([nn.Embedding(timesteps, width) for _ in self.hidden])
        self.out = nn.Linear(width, dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        for linear, embed in zip(self.hidden, self.embed):
            x = F.relu(linear(x) + embed(t))
        return self.out(x)


class DiffusionModel(nn.Module):
    """Network plus schedule; `loss` is the epsilon-prediction MSE on [s, a] pairs."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: Config):
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.schedule = NoiseSchedule(cfg.timesteps, cfg.beta_start, cfg.beta_end)
        self.net = DiffusionMLP(obs_dim + act_dim, cfg.width, cfg.timesteps)

    def loss(self, obs: torch.Tensor, act: torch.Tensor):
        x0 = torch.cat([obs, act], dim=1)
        t = self.schedule.antithetic_timesteps(x0.shape[0], x0.device)
        noise = torch.randn_like(x0)
        loss = F.mse_loss(self.net(self.schedule.add_noise(x0, noise, t), t), noise)
        return loss, {}

    def act(self, obs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - not a policy
        raise NotImplementedError("the diffusion model is not a policy")


@torch.no_grad()
def heldout_loss(model: DiffusionModel, obs: torch.Tensor, act: torch.Tensor, repeats: int = 4,
                 seed: int = 0) -> float:
    """Denoising loss on held-out pairs, with a fixed generator so values compare across updates."""
    if len(obs) == 0:
        return float("nan")
    gen = torch.Generator(device=obs.device).manual_seed(seed)
    x0 = torch.cat([obs, act], dim=1)
    total = 0.0
    for _ in range(repeats):
        t = torch.randint(0, model.schedule.timesteps, (x0.shape[0],), device=x0.device, generator=gen)
        noise = torch.randn(x0.shape, device=x0.device, generator=gen)
        total += F.mse_loss(model.net(model.schedule.add_noise(x0, noise, t), t), noise).item()
    return total / repeats
