"""What every method shares: devices, demonstrations, normalisation, initialisation, acting.

Methods meet the pipeline at one small interface (see methods/__init__.py): an `Agent` module
with `loss(obs, act)` for training and `act(obs)` for evaluation, both on z-scored tensors.
"""
from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from dbc_bench.errors import BenchError

# ----------------------------------------------------------------------------- runtime

def select_device(preference: str = "auto") -> torch.device:
    """'auto' takes CUDA when present, else CPU; with several GPUs visible (one machine, no scheduler
    assigning them) it claims a free one (claim_gpu). 'cpu' / 'cuda' / 'cuda:1' force one."""
    if preference == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        count = torch.cuda.device_count()
        return torch.device(f"cuda:{claim_gpu(count)}" if count > 1 else "cuda")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device '{preference}' requested but CUDA is not available")
    return torch.device(preference)


_CLAIMS: list = []  # open lock files: a claim lasts as long as the process


def synchronize(device: torch.device) -> None:
    """Wait for `device`'s queued work: CUDA runs asynchronously, so a timer stopped without it flatters it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def claim_gpu(count: int, lock_dir: str | os.PathLike | None = None) -> int:
    """The index of a GPU no other job of this machine holds: an exclusive lock on a file per GPU in
    the temporary folder, released when the process ends (also when it is killed). When every GPU is
    held, jobs share them, spread by process id."""
    import fcntl
    import tempfile

    folder = Path(lock_dir or tempfile.gettempdir())
    for index in range(count):
        handle = open(folder / f"dbc-bench-gpu-{index}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _CLAIMS.append(handle)
        return index
    return os.getpid() % count


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
        """The identity (values still clamped to +-clip); also the placeholder that load_state_dict fills."""
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
                        act_dim: int | None = None, normalize: bool = True) -> Demonstrations:
    """Read a local Minari dataset directory (the one holding data/ and metadata) into tensors,
    z-scored with its own statistics (`normalize=False`: identity normalisers, raw values).

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
    for ep in episodes:
        n_obs, n_act = len(ep.observations), len(ep.actions)
        if n_obs != n_act + 1:
            raise BenchError(f"{path}: episode {ep.id} has {n_obs} observations for {n_act} actions "
                             f"(expected {n_act + 1}); its (state, action) pairs would be misaligned")
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
    if normalize:
        obs_norm, act_norm = Normalizer.fit(obs_t), Normalizer.fit(act_t)
    else:
        obs_norm, act_norm = Normalizer.empty(obs_t.shape[1]), Normalizer.empty(act_t.shape[1])
    return Demonstrations(obs_norm(obs_t), act_norm(act_t), obs_norm, act_norm,
                          n_episodes=len(episodes), source=str(path))


# ----------------------------------------------------------------------------- networks

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


# ----------------------------------------------------------------------------- acting

def agent_policy(agent: torch.nn.Module, obs_norm, act_norm, low: np.ndarray, high: np.ndarray,
                 device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    """Wraps an Agent (z-scored in, z-scored out) as a batch policy on raw observations."""

    @torch.inference_mode()
    def policy(obs: np.ndarray) -> np.ndarray:
        x = obs_norm(torch.as_tensor(obs, device=device))
        action = act_norm.inverse(agent.act(x)).cpu().numpy()
        return np.clip(action, low, high)

    return policy
