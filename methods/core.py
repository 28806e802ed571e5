"""What every method shares: devices, demonstrations, normalisation, networks, checkpoints.

Methods meet the pipeline at one small interface (see methods/__init__.py): an `Agent` module
with `loss(obs, act)` for training and `act(obs)` for evaluation, both on z-scored tensors.
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn


class BenchError(Exception):
    """A user-facing error: the message names the file or field at fault."""


def run_stage(stage: Callable[[], None]) -> int:
    """Run a pipeline stage's body: a BenchError becomes one line on stderr and exit status 1."""
    try:
        stage()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------- runtime

def select_device(preference: str = "auto") -> torch.device:
    """'auto' takes CUDA when present, else CPU; 'cpu' / 'cuda' / 'cuda:1' force one."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device '{preference}' requested but CUDA is not available")
    return torch.device(preference)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(threads: int) -> None:
    """Torch's intra-op pool follows the Snakemake rule's `threads`."""
    torch.set_num_threads(max(1, int(threads)))


# ----------------------------------------------------------------------------- data

class Normalizer(nn.Module):
    """Z-scores with dataset statistics, clamped to +-clip (the authors' +-10)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, clip: float = 10.0):
        super().__init__()
        self.register_buffer("mean", mean.float().clone())
        # Constant dimensions (e.g. a fixed goal coordinate) would divide by zero.
        self.register_buffer("std", std.float().clamp_min(1e-6).clone())
        self.clip = clip

    @classmethod
    def fit(cls, x: torch.Tensor) -> "Normalizer":
        return cls(x.mean(0), x.std(0))

    @classmethod
    def empty(cls, dim: int) -> "Normalizer":
        """Placeholder with the right shapes, to be filled by load_state_dict."""
        return cls(torch.zeros(dim), torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.std).clamp(-self.clip, self.clip)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


@dataclass
class Demonstrations:
    """Expert (state, action) pairs held as tensors, z-scored once, sampled without copies."""

    obs: torch.Tensor  # [N, obs_dim], z-scored
    act: torch.Tensor  # [N, act_dim], z-scored
    obs_norm: Normalizer
    act_norm: Normalizer
    n_episodes: int
    source: str

    @property
    def obs_dim(self) -> int:
        return self.obs.shape[1]

    @property
    def act_dim(self) -> int:
        return self.act.shape[1]

    def __len__(self) -> int:
        return self.obs.shape[0]

    def to(self, device: torch.device) -> "Demonstrations":
        return Demonstrations(self.obs.to(device), self.act.to(device), self.obs_norm.to(device),
                              self.act_norm.to(device), self.n_episodes, self.source)

    def split(self, holdout_fraction: float, generator: torch.Generator) -> tuple["Demonstrations", "Demonstrations"]:
        """Random transition split (for held-out losses); normalisers stay the full set's."""
        n_hold = int(round(len(self) * holdout_fraction))
        perm = torch.randperm(len(self), generator=generator).to(self.obs.device)
        hold, keep = perm[:n_hold], perm[n_hold:]
        make = lambda idx: Demonstrations(self.obs[idx], self.act[idx], self.obs_norm, self.act_norm,
                                          self.n_episodes, self.source)
        return make(keep), make(hold)


def load_demonstrations(dataset_dir: str | os.PathLike, obs_dim: int | None = None,
                        act_dim: int | None = None) -> Demonstrations:
    """Read a local Minari dataset directory (the one holding data/ and metadata) into tensors.

    Checks what a bad or mismatched file would otherwise turn into a deep stack trace: that it is
    a readable Minari dataset, that its spaces match the task, and that it holds no NaN or inf.
    """
    import minari

    path = Path(dataset_dir)
    if not (path / "data").is_dir():
        raise BenchError(f"{path}: not a Minari dataset directory (no data/ inside)")
    try:
        dataset = minari.MinariDataset(path / "data")
        episodes = list(dataset.iterate_episodes())
    except Exception as exc:  # h5py / json errors for truncated or corrupt files
        raise BenchError(f"{path}: cannot read Minari dataset ({type(exc).__name__}: {exc})") from exc
    if not episodes:
        raise BenchError(f"{path}: dataset holds no episodes")
    # Each episode stores T+1 observations for T actions; the last one has no action.
    obs = np.concatenate([np.asarray(ep.observations)[:-1] for ep in episodes]).astype(np.float32)
    act = np.concatenate([np.asarray(ep.actions) for ep in episodes]).astype(np.float32)
    if obs.ndim != 2 or act.ndim != 2:
        raise BenchError(f"{path}: observations and actions must be flat vectors, got shapes "
                         f"{obs.shape} and {act.shape}")
    if obs_dim is not None and obs.shape[1] != obs_dim:
        raise BenchError(f"{path}: observations have {obs.shape[1]} dimensions, the task needs {obs_dim}")
    if act_dim is not None and act.shape[1] != act_dim:
        raise BenchError(f"{path}: actions have {act.shape[1]} dimensions, the task needs {act_dim}")
    for name, arr in (("observations", obs), ("actions", act)):
        if not np.isfinite(arr).all():
            raise BenchError(f"{path}: {name} contain NaN or inf")
    obs_t, act_t = torch.from_numpy(obs), torch.from_numpy(act)
    obs_norm, act_norm = Normalizer.fit(obs_t), Normalizer.fit(act_t)
    return Demonstrations(obs_norm(obs_t), act_norm(act_t), obs_norm, act_norm,
                          n_episodes=len(episodes), source=str(path))


# ----------------------------------------------------------------------------- networks

def mlp(in_dim: int, hidden: list[int], out_dim: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), activation()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def orthogonal_init(net: nn.Module, gain: float = math.sqrt(2)) -> nn.Module:
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight, gain)
            nn.init.zeros_(m.bias)
    return net


def linear_decay(optimizer: torch.optim.Optimizer, total_updates: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate falls linearly from its initial value to 0 at the last update."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1.0 - step / max(1, total_updates)))


# ----------------------------------------------------------------------------- checkpoints

def save_atomic(obj, path: str | os.PathLike) -> None:
    """torch.save to a temporary name, then rename: a killed job never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Weights-only loading: a checkpoint that carries pickled code is refused, never run."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BenchError(f"{path}: not a valid weights-only checkpoint ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0][:200]})") from exc


def load_state_checked(module: nn.Module, state: dict, source: str) -> None:
    """load_state_dict with a one-line error naming the file and the first mismatching tensor."""
    own = module.state_dict()
    for key, value in own.items():
        if key not in state:
            raise BenchError(f"{source}: checkpoint lacks '{key}'")
        if tuple(state[key].shape) != tuple(value.shape):
            raise BenchError(f"{source}: '{key}' has shape {tuple(state[key].shape)}, "
                             f"expected {tuple(value.shape)}")
    extra = sorted(set(state) - set(own))
    if extra:
        raise BenchError(f"{source}: checkpoint has unexpected entries {extra[:3]}")
    module.load_state_dict(state)
