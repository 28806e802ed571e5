"""How well DBC's pre-trained diffusion model tells expert pairs from others (the paper's first open
check; rule dm_quality).

On the pairs the model's pre-training held out, it scores each [s, a'] by its denoising loss, averaged
over `draws` (t, noise) draws that every candidate action of the pair shares (so the comparison is
paired, as DBC's own term is). The candidates:
- the expert's action a;
- a + N(0, sigma^2) per z-scored dimension, sigma in NOISE_LEVELS;
- the action of each BC run's final policy (the method DBC's term must push away from);
- another held-out pair's expert action (the actions shuffled).
For each alternative, ROC AUC = P(loss(alternative) > loss(expert)) over all (expert, alternative)
pairs, ties half (the Mann-Whitney U / n^2): 0.5 is no separation, 1 perfect. Also what DBC's
training sees at a BC-like policy: the share of `batch`-pair batches (one draw per pair, as one
update draws) whose mean loss of the BC actions exceeds the expert's, i.e. how often the hinge
max(agent - expert, 0) would be above 0.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import mannwhitneyu

import envs
from dbc_bench.errors import BenchError
from dbc_bench.fields import from_values
from dbc_bench.io import write_json_atomic
from methods.core import load_demonstrations, set_threads
from methods.dbc import load_diffusion_model
from methods.diffusion import Config as DMConfig
from methods.diffusion import heldout_loss
from methods.jobs import load_policy

NOISE_LEVELS = (0.1, 0.3, 1.0)


@torch.no_grad()
def pair_losses(model, obs: torch.Tensor, actions: list[torch.Tensor], draws: int,
                generator: torch.Generator) -> torch.Tensor:
    """[candidates, draws, pairs]: each candidate's per-pair denoising loss under draws shared by all."""
    n, schedule = obs.shape[0], model.schedule
    out = torch.empty(len(actions), draws, n)
    pairs = [model.pair(obs, act) for act in actions]
    for d in range(draws):
        t = torch.randint(0, schedule.timesteps, (n,), generator=generator)
        noise = torch.randn(pairs[0].shape, generator=generator)
        for k, x0 in enumerate(pairs):
            out[k, d] = ((model.net(schedule.add_noise(x0, noise, t), t) - noise) ** 2).mean(1)
    return out


def roc_auc(expert: np.ndarray, alternative: np.ndarray) -> float:
    """P(alternative's loss > expert's loss), ties counted half."""
    u = mannwhitneyu(alternative, expert, alternative="two-sided").statistic
    return float(u / (len(expert) * len(alternative)))


def hinge_positive_share(agent: torch.Tensor, expert: torch.Tensor, batch: int, batches: int,
                         generator: torch.Generator) -> float:
    """Share of random `batch`-pair batches, each under one draw, whose mean agent loss exceeds the expert's."""
    draws, n = agent.shape
    d = torch.randint(0, draws, (batches,), generator=generator)
    idx = torch.randint(0, n, (batches, batch), generator=generator)
    return float((agent[d[:, None], idx].mean(1) > expert[d[:, None], idx].mean(1)).double().mean())


def measure(task_name: str, hyperparameters: dict, model_path: Path, dataset: Path, bc_runs: list[Path], out: Path,
            seed: int = 0, draws: int = 64, batch: int = 128, batches: int = 2000, threads: int = 1) -> dict:
    """Write `out` (JSON): the model's held-out loss and the AUCs and hinge share described above."""
    start = time.perf_counter()
    set_threads(threads)
    task = envs.get_task(task_name)
    cfg = from_values(DMConfig, hyperparameters, "resolved hyperparameters of the diffusion model")
    data = load_demonstrations(dataset, task.obs_dim, task.act_dim, normalize=cfg.normalize)
    _, held = data.split(cfg.holdout_fraction, torch.Generator().manual_seed(seed))  # pre-training's split
    if len(held) == 0:
        raise BenchError(f"{model_path}: its pre-training held out no pairs (holdout_fraction 0): nothing to score")
    model = load_diffusion_model(model_path, task.obs_dim, task.act_dim, data.obs_norm, data.act_norm,
                                 inputs=cfg.inputs).eval()
    gen = torch.Generator().manual_seed(seed)
    candidates = {"expert": held.act}
    for sigma in NOISE_LEVELS:
        candidates[f"noise_{sigma:g}"] = held.act + sigma * torch.randn(held.act.shape, generator=gen)
    raw_obs = data.obs_norm.inverse(held.obs)
    bc_names = []
    for run_dir in bc_runs:  # BC's actions in raw units, then in the model's (its normalisation may differ)
        info, agent, obs_norm, act_norm = load_policy(run_dir, torch.device("cpu"))
        if info["method"] != "bc" or info["task"] != task_name:
            raise BenchError(f"{run_dir}: a {info['method']} run on {info['task']}, not BC on {task_name}")
        with torch.no_grad():
            candidates[f"bc_seed{info['seed']}"] = data.act_norm(act_norm.inverse(agent.act(obs_norm(raw_obs))))
        bc_names.append(f"bc_seed{info['seed']}")
    candidates["shuffled"] = held.act[torch.randperm(len(held), generator=gen)]
    names = list(candidates)
    losses = pair_losses(model, held.obs, [candidates[k] for k in names], draws, gen)
    per_pair = {name: losses[k].mean(0).numpy() for k, name in enumerate(names)}
    auc = {name: roc_auc(per_pair["expert"], per_pair[name]) for name in names if name != "expert"}
    expert_losses = losses[names.index("expert")]
    hinge = {name: hinge_positive_share(losses[names.index(name)], expert_losses, batch, batches, gen)
             for name in bc_names}
    result = {
        "task": task_name, "model": str(model_path), "pairs": len(held), "draws": draws, "seed": seed,
        "width": cfg.width, "epochs": cfg.epochs, "lr": cfg.lr, "lr_decay": cfg.lr_decay,
        "heldout_loss": heldout_loss(model, held.obs, held.act),
        "mean_loss": {name: float(per_pair[name].mean()) for name in names},
        "auc": auc,
        "auc_bc_mean": float(np.mean([auc[n] for n in bc_names])) if bc_names else float("nan"),
        "bc_hinge_positive": hinge, "batch": batch, "batches": batches,
        "bc_hinge_positive_mean": float(np.mean(list(hinge.values()))) if hinge else float("nan"),
        "seconds": time.perf_counter() - start,
    }
    write_json_atomic(out, result)
    print(json.dumps({k: result[k] for k in ("task", "heldout_loss", "auc", "bc_hinge_positive_mean")}), flush=True)
    return result
