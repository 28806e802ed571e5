"""The DBC authors' diffusion model of expert (state, action) pairs.

A DDPM with epsilon prediction on the z-scored joint vector x = [s, a] (or, with `inputs: action`,
on the action alone: the paper's check of a model of p(a) instead of p(s, a)). The noise schedule comes
from diffusers' DDPMScheduler (its 'sigmoid' schedule is the authors' formula:
beta_t = sigmoid(linspace(-6, 6, T)) * (beta_end - beta_start) + beta_start); the forward process
is applied here with precomputed tensors so a training step pays no per-call conversions.
"""
from __future__ import annotations

import dataclasses
import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import envs
from dbc_bench import kernels, provenance
from dbc_bench.fields import from_values, option
from dbc_bench.io import save_torch_atomic, to_csv, write_json_atomic, write_text_atomic
from methods.core import load_demonstrations, seed_everything, select_device, set_threads
from methods.registry import StageSpec
from methods.train import TrainConfig, fit


@dataclass
class Config(TrainConfig):
    """Pre-training settings (config/diffusion_model/<task>.yaml)."""

    width: int = option(1024, "hidden width H of the eps-network (in -> H -> H -> H -> out)", gt=0)
    timesteps: int = option(1000, "T, the diffusion steps", gt=0)
    beta_start: float = option(1e-4, "first beta of the sigmoid schedule", gt=0)
    beta_end: float = option(0.02, "last beta of the sigmoid schedule", gt=0)
    holdout_fraction: float = option(0.05, "pairs kept out of training for a held-out loss", ge=0, le=0.49)
    inputs: str = option("state_action", "what the model learns: state_action, p(s, a) (DBC); action, p(a) alone",
                         choices=("state_action", "action"))


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
        self.obs_dim, self.act_dim, self.cfg = obs_dim, act_dim, cfg
        self.schedule = NoiseSchedule(cfg.timesteps, cfg.beta_start, cfg.beta_end)
        self.net = DiffusionMLP(act_dim if cfg.inputs == "action" else obs_dim + act_dim, cfg.width, cfg.timesteps)

    def pair(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """The vector the model scores: [s, a], or a alone for a model of p(a)."""
        return act if self.cfg.inputs == "action" else torch.cat([obs, act], dim=1)

    def loss(self, obs: torch.Tensor, act: torch.Tensor):
        x0 = self.pair(obs, act)
        t = self.schedule.antithetic_timesteps(x0.shape[0], x0.device)
        noise = torch.randn_like(x0)
        loss = F.mse_loss(self.net(self.schedule.add_noise(x0, noise, t), t), noise)
        return loss, {}

    def guidance(self, obs: torch.Tensor, act: torch.Tensor, pred: torch.Tensor):
        """DBC's terms: the denoising losses of the agent's [s, a_hat] and the expert's [s, a] under the
        same timesteps and noise; the expert's is a constant for the policy."""
        expert_pair, agent_pair = self.pair(obs, act), self.pair(obs, pred)
        t = self.schedule.antithetic_timesteps(obs.shape[0], obs.device)
        noise = torch.randn(expert_pair.shape, device=obs.device)
        with torch.no_grad():
            expert = F.mse_loss(self.net(self.schedule.add_noise(expert_pair, noise, t), t), noise)
        agent = F.mse_loss(self.net(self.schedule.add_noise(agent_pair, noise, t), t), noise)
        return agent, expert

    def heldout_loss(self, obs: torch.Tensor, act: torch.Tensor) -> float:
        return heldout_loss(self, obs, act)

    def act(self, obs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - not a policy
        raise NotImplementedError("the diffusion model is not a policy")


@torch.no_grad()
def heldout_loss(model: DiffusionModel, obs: torch.Tensor, act: torch.Tensor, repeats: int = 4,
                 seed: int = 0) -> float:
    """Denoising loss on held-out pairs, with a fixed generator so values compare across updates."""
    if len(obs) == 0:
        return float("nan")
    gen = torch.Generator(device=obs.device).manual_seed(seed)
    x0 = model.pair(obs, act)
    total = 0.0
    for _ in range(repeats):
        t = torch.randint(0, model.schedule.timesteps, (x0.shape[0],), device=x0.device, generator=gen)
        noise = torch.randn(x0.shape, device=x0.device, generator=gen)
        total += F.mse_loss(model.net(model.schedule.add_noise(x0, noise, t), t), noise).item()
    return total / repeats


def save_checkpoint(model: DiffusionModel, obs_mean: torch.Tensor, act_mean: torch.Tensor, path: Path) -> None:
    """The file DBC loads (methods.dbc.load_diffusion_model): weights, config, and the data means
    that tie the model to its dataset."""
    save_torch_atomic({"model": model.state_dict(), "config": dataclasses.asdict(model.cfg),
                       "obs_mean": obs_mean.cpu(), "act_mean": act_mean.cpu()}, path)


def pretrain(task_name: str, hyperparameters: dict, dataset: Path, out_dir: Path, budget: str = "", seed: int = 0,
             threads: int = 1, device: str = "auto", eval_points: int = 10, code: str = "",
             model_class: type = DiffusionModel, config_class: type = Config, what: str = "diffusion model") -> None:
    """DBC's first stage: a generative model of the expert [s, a] pairs (the diffusion model, or a
    `model_class` of methods/guidance.py for the ablation), with its held-out loss curve; model.pt,
    written last, marks a finished pre-training."""
    wall_start = time.perf_counter()
    task = envs.get_task(task_name)
    cfg = from_values(config_class, hyperparameters, f"resolved hyperparameters of the {what}")
    set_threads(threads)
    torch_device = select_device(device)
    seed_everything(seed)
    # normalize: false trains on raw pairs (the authors' AntReach model); DBC's policy must then not
    # z-score either, which the data statistics in the checkpoint enforce (methods.dbc).
    data = load_demonstrations(dataset, task.obs_dim, task.act_dim, normalize=cfg.normalize).to(torch_device)
    train_part, held = data.split(cfg.holdout_fraction, torch.Generator().manual_seed(seed))
    model = model_class(task.obs_dim, task.act_dim, cfg).to(torch_device)
    print(f"{what} for {task_name}: width {cfg.width}, {len(train_part)} training / {len(held)} "
          f"held-out pairs, {cfg.total_updates(len(train_part))} updates on {torch_device}", flush=True)
    initial = model.heldout_loss(held.obs, held.act)

    def evaluate(m) -> list[dict]:
        loss = m.heldout_loss(held.obs, held.act)
        print(f"held-out denoising loss {loss:.4f} (at initialisation {initial:.4f})", flush=True)
        return [{"heldout_loss": loss}]

    out_dir.mkdir(parents=True, exist_ok=True)
    info = {"task": task_name, "budget": budget, "seed": seed, "config": dataclasses.asdict(cfg), "code": code,
            "dataset": str(dataset), "train_pairs": len(train_part), "heldout_pairs": len(held),
            "threads": threads, "kernels": kernels.settings()}
    # As for a policy run (methods.jobs.train): what decides the bits identifies the saved state.
    result = fit(model, train_part, cfg, evaluate=evaluate, eval_points=eval_points, state_path=out_dir / "state.pt",
                 fingerprint=json.dumps(info, sort_keys=True))
    write_text_atomic(out_dir / "train_log.csv", to_csv(result.log))
    write_text_atomic(out_dir / "loss_curve.csv", to_csv([{"update": 0, "heldout_loss": initial}] + result.curve))
    write_json_atomic(out_dir / "config.json", {**info, "device": str(torch_device), "provenance": provenance.record()})
    write_json_atomic(out_dir / "timing.json", {
        "updates": result.updates, "train_seconds": result.train_seconds,
        "updates_per_second": result.updates_per_second, "wall_seconds": time.perf_counter() - wall_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "heldout_loss_initial": initial, "heldout_loss_final": result.curve[-1]["heldout_loss"]})
    save_checkpoint(model, data.obs_norm.mean, data.act_norm.mean, out_dir / "model.pt")
    (out_dir / "state.pt").unlink(missing_ok=True)
    print(f"done: {result.updates_per_second:.0f} updates/s over {result.train_seconds:.1f} s", flush=True)


def write_stand_in(obs_dim: int, act_dim: int, cfg: Config, path: Path) -> None:
    """An untrained model of `cfg`'s size in pretrain's checkpoint format (the trainer benchmark's
    input: as fast to guide with as a trained one)."""
    save_checkpoint(DiffusionModel(obs_dim, act_dim, cfg), torch.zeros(obs_dim), torch.zeros(act_dim), path)


STAGES = (
    StageSpec(name="diffusion_model", abbrev="DM", label="diffusion model", config=Config, pretrain=pretrain,
              rule="pretrain_dm", folder="diffusion_model/{task}", config_files="diffusion_model",
              stand_in=write_stand_in),
    # The paper's third open check: the same model of the expert actions alone, p(a) (method dbc_action_dm).
    StageSpec(name="action_diffusion_model", abbrev="action DM", label="action-only diffusion model", config=Config,
              pretrain=pretrain, rule="pretrain_action_dm", folder="action_diffusion_model/{task}",
              config_files="action_diffusion_model", base="diffusion_model", fixed=(("inputs", "action"),),
              stand_in=write_stand_in),
)
