"""Diffusion Policy as the DBC authors ran it: a state-conditioned DDPM over the single action.

An MLP eps_theta([a_t, s, emb(t)]) is trained with the epsilon-prediction MSE under a cosine
noise schedule (diffusers' 'squaredcos_cap_v2', T steps). At test time an action is drawn by
full ancestral sampling (diffusers' DDPMScheduler.step over all T steps), or, with
`sampler: ddim`, by deterministic DDIM in `inference_steps` steps (DDIMScheduler), batched over
all given states. No action chunks: the evaluation loop asks for one action per state and resets
environments individually, so a receding-horizon buffer would have no clean place to live.

The schedulers are plain attributes rebuilt from the config; `state_dict()` holds only the
network's tensors, so checkpoints load with torch.load(weights_only=True).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dbc_bench.fields import option
from dbc_bench.nets import mlp
from methods.registry import MethodSpec
from methods.train import TrainConfig


@dataclass
class Config(TrainConfig):
    hidden: list[int] = option([256, 256, 256, 256], "eps-network hidden widths", item_gt=0)
    timesteps: int = option(1000, "T, the training diffusion steps", gt=0)
    time_embed_dim: int = option(16, "sinusoidal embedding of t (even), then a small MLP", gt=0)
    sampler: str = option("ddpm", "ddpm: all T ancestral steps (the authors'); ddim: few steps",
                          choices=("ddpm", "ddim"))
    inference_steps: int = option(10, "DDIM steps (ignored by ddpm)", gt=0)
    clip_sample: float = option(10.0, "clip the predicted clean action to +-this (0: off)", ge=0)

    def cross_checks(self) -> list[tuple[str, str]]:
        problems = []
        if self.time_embed_dim % 2:
            problems.append(("time_embed_dim", "even"))
        if self.sampler == "ddim" and self.inference_steps > self.timesteps:
            problems.append(("inference_steps", f"at most timesteps ({self.timesteps})"))
        return problems


class EpsNet(nn.Module):
    """eps_theta(a_t, s, t): Mish MLP on [a_t, s, emb(t)], emb = MLP(sinusoid(t))."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int], embed_dim: int):
        super().__init__()
        half = embed_dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000.0) * torch.arange(half) / max(1, half - 1)),
                             persistent=False)
        self.time_mlp = nn.Sequential(nn.Linear(embed_dim, 2 * embed_dim), nn.Mish(),
                                      nn.Linear(2 * embed_dim, embed_dim))
        self.trunk = mlp(act_dim + obs_dim + embed_dim, hidden, act_dim, nn.Mish)

    def forward(self, noisy_act: torch.Tensor, obs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        angles = t.float().unsqueeze(-1) * self.freqs
        emb = self.time_mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))
        return self.trunk(torch.cat([noisy_act, obs, emb], dim=-1))


def make_schedulers(cfg: Config):
    """(DDPM for training and ancestral sampling, DDIM or None), both with the cosine schedule."""
    from diffusers import DDIMScheduler, DDPMScheduler

    common = dict(num_train_timesteps=cfg.timesteps, beta_schedule="squaredcos_cap_v2",
                  prediction_type="epsilon", clip_sample=cfg.clip_sample > 0,
                  clip_sample_range=float(cfg.clip_sample or 1.0))
    ddpm = DDPMScheduler(variance_type="fixed_small", **common)
    ddpm.set_timesteps(cfg.timesteps)
    ddim = None
    if cfg.sampler == "ddim":
        # 'leading' spacing (T - T/steps, ..., 0), as Chi et al. use it: 'trailing' would start at
        # t = T-1, where the capped cosine schedule leaves alpha_bar ~ 2e-7 and the clean-action
        # estimate from an epsilon prediction is ill-conditioned (on a +-1 toy it sent 85% of
        # samples to one mode).
        ddim = DDIMScheduler(set_alpha_to_one=True, timestep_spacing="leading", **common)
        ddim.set_timesteps(cfg.inference_steps)
    return ddpm, ddim


class DiffusionPolicy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, cfg: Config):
        super().__init__()
        self.cfg, self.act_dim = cfg, act_dim
        self.net = EpsNet(obs_dim, act_dim, cfg.hidden, cfg.time_embed_dim)
        ddpm, ddim = make_schedulers(cfg)
        self.schedulers = {"ddpm": ddpm, "ddim": ddim}  # plain attribute: not in state_dict
        alpha_bar = ddpm.alphas_cumprod.float()
        self.register_buffer("sqrt_alpha_bar", alpha_bar.sqrt(), persistent=False)
        self.register_buffer("sqrt_one_minus_alpha_bar", (1 - alpha_bar).sqrt(), persistent=False)

    def loss(self, obs: torch.Tensor, act: torch.Tensor):
        t = torch.randint(0, self.cfg.timesteps, (obs.shape[0],), device=obs.device)
        noise = torch.randn_like(act)
        # The forward process with precomputed tensors (same alphas_cumprod as the scheduler's
        # add_noise), so a training step pays no per-call conversions.
        noisy = self.sqrt_alpha_bar[t, None] * act + self.sqrt_one_minus_alpha_bar[t, None] * noise
        loss = F.mse_loss(self.net(noisy, obs, t), noise)
        return loss, {"eps_mse": loss.detach()}

    def sample(self, obs: torch.Tensor, sampler: str | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """One action per state, all states denoised together: [B, obs_dim] -> [B, act_dim]."""
        sampler = sampler or self.cfg.sampler
        scheduler = self.schedulers[sampler]
        if scheduler is None:  # a ddpm-configured policy asked for ddim: build it on demand
            cfg = Config(**{**self.cfg.__dict__, "sampler": "ddim"})
            scheduler = self.schedulers["ddim"] = make_schedulers(cfg)[1]
        x = torch.randn(obs.shape[0], self.act_dim, device=obs.device, generator=generator)
        t_batch = torch.empty(obs.shape[0], dtype=torch.long, device=obs.device)
        for t in scheduler.timesteps:
            eps = self.net(x, obs, t_batch.fill_(int(t)))
            x = scheduler.step(eps, int(t), x, generator=generator).prev_sample
        return x

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.sample(obs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.sample(obs)


def build(cfg: Config, obs_dim: int, act_dim: int, context: dict | None = None) -> DiffusionPolicy:
    return DiffusionPolicy(obs_dim, act_dim, cfg)


METHOD = MethodSpec(name="diffusion_policy", label="Diffusion Policy", config=Config, build=build, rank=3)
