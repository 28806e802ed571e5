"""RL experts (hand_rotate, walker, cheetah, ant_reach) stored as weights-only files.

A file written by workflow/scripts/train_expert.py holds plain tensors and primitives only:

- ``format``: ``FORMAT`` (a string), ``task``: the task name, ``hidden``: hidden widths,
  ``activation``: ``'tanh'`` or ``'relu'``;
- ``actor``: the state_dict of ``methods.core.mlp(obs_dim, hidden, act_dim)`` (the policy's
  mean action);
- ``obs_mean``, ``obs_var`` [obs_dim], ``obs_clip`` and ``obs_epsilon``: observation
  normalisation ``clip((obs - mean) / sqrt(var + eps), -clip, clip)``;
- ``log_std`` [act_dim] (optional): the Gaussian policy's state-independent log standard deviation,
  needed to sample actions as the authors recorded their walker demonstrations;
- ``output`` (optional): ``'linear'`` (default: PPO's Gaussian mean) or ``'tanh'`` (DDPG's squashed
  deterministic action); ``algorithm`` (optional, default ``'PPO'``): the learner, for descriptions.

Loading never unpickles code (``torch.load(weights_only=True)``), and every shape is checked
against the task, so a wrong or damaged file fails with a BenchError naming it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dbc_bench.errors import BenchError
from dbc_bench.io import load_checkpoint, load_state_checked
from dbc_bench.nets import mlp
from envs import get_task

FORMAT = "dbc-bench-rl-expert-v1"
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}
SHIPPED_DIR = Path(__file__).resolve().parent
_experts_dir: Path | None = None  # use_experts_dir's folder (collect_demos --experts-dir), else the shipped one


def use_experts_dir(folder: str | os.PathLike | None) -> None:
    """Load experts from `folder` (retrained ones: config `experts: retrained`) instead of the shipped files."""
    global _experts_dir
    _experts_dir = Path(folder) if folder else None


def expert_path(task_name: str) -> Path:
    """``<experts dir>/<task>.pt``: use_experts_dir's folder, or the shipped file beside this module."""
    return (_experts_dir or SHIPPED_DIR) / f"{task_name}.pt"


OUTPUTS = ("linear", "tanh")


def build_actor(obs_dim: int, hidden: list[int], act_dim: int, activation: str,
                output: str = "linear") -> nn.Sequential:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation '{activation}': choose from {', '.join(ACTIVATIONS)}")
    actor = mlp(obs_dim, list(hidden), act_dim, ACTIVATIONS[activation])
    if output == "tanh":
        actor.append(nn.Tanh())  # no parameters: the state_dict keeps the plain MLP's keys
    return actor


class RLExpert:
    """Normalise obs with the saved stats, then either the actor's mean clipped to the box, or
    (`rng` given) an action sampled from N(mean, exp(log_std)^2), unclipped: the env clips it."""

    def __init__(self, path: str | os.PathLike, task_name: str, action_low=None, action_high=None,
                 rng: np.random.Generator | None = None):
        path = Path(path)
        task = get_task(task_name)
        blob = load_checkpoint(path)
        src = str(path)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise BenchError(f"{src}: not a DBC-Bench RL expert file (expected format '{FORMAT}')")
        if blob.get("task") != task.name:
            raise BenchError(f"{src}: expert was trained for task '{blob.get('task')}', not '{task.name}'")
        hidden, activation = blob.get("hidden"), blob.get("activation")
        if (not isinstance(hidden, (list, tuple)) or not hidden
                or not all(isinstance(h, int) and h > 0 for h in hidden)):
            raise BenchError(f"{src}: field 'hidden' must be a list of positive widths, got {hidden!r}")
        if activation not in ACTIVATIONS:
            raise BenchError(f"{src}: field 'activation' is {activation!r}; expected one of {list(ACTIVATIONS)}")
        actor_state = blob.get("actor")
        if not isinstance(actor_state, dict):
            raise BenchError(f"{src}: field 'actor' is missing or not a state_dict")
        output, algorithm = blob.get("output", "linear"), blob.get("algorithm", "PPO")
        if output not in OUTPUTS:
            raise BenchError(f"{src}: field 'output' is {output!r}; expected one of {list(OUTPUTS)}")
        if not isinstance(algorithm, str):
            raise BenchError(f"{src}: field 'algorithm' must be a string, got {algorithm!r}")
        self.actor = build_actor(task.obs_dim, hidden, task.act_dim, activation, output)
        load_state_checked(self.actor, actor_state, src)
        self.actor.eval()

        stats = {}
        for key in ("obs_mean", "obs_var"):
            value = blob.get(key)
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != (task.obs_dim,):
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise BenchError(f"{src}: '{key}' has shape {shape}, expected ({task.obs_dim},)")
            stats[key] = value.double().numpy()
        for key in ("obs_clip", "obs_epsilon"):
            if not isinstance(blob.get(key), (int, float)):
                raise BenchError(f"{src}: field '{key}' is missing or not a number")
        tensors = [*stats.values(), *(p.detach().numpy() for p in self.actor.parameters())]
        if not all(np.isfinite(t).all() for t in tensors):
            raise BenchError(f"{src}: weights or statistics contain NaN or inf")
        if (stats["obs_var"] < 0).any():
            raise BenchError(f"{src}: 'obs_var' has negative entries")
        self._rng, self._std = rng, None
        if rng is not None:
            log_std = blob.get("log_std")
            if not isinstance(log_std, torch.Tensor) or tuple(log_std.shape) != (task.act_dim,):
                raise BenchError(f"{src}: sampled actions need field 'log_std' of shape ({task.act_dim},); "
                                 f"this file has none (retrain it with workflow/scripts/train_expert.py)")
            if not torch.isfinite(log_std).all():
                raise BenchError(f"{src}: 'log_std' contains NaN or inf")
            self._std = log_std.double().exp().numpy()

        self._mean = stats["obs_mean"]
        self._scale = np.sqrt(stats["obs_var"] + float(blob["obs_epsilon"]))
        self._clip = float(blob["obs_clip"])
        self._low = np.full(task.act_dim, -1.0) if action_low is None else np.asarray(action_low, dtype=np.float64)
        self._high = np.full(task.act_dim, 1.0) if action_high is None else np.asarray(action_high, dtype=np.float64)
        self.path = path
        how = ("actions sampled from its Gaussian (std " + " ".join(f"{v:.2f}" for v in self._std)
               + "), unclipped") if rng is not None else ("deterministic action" if output == "tanh"
                                                           else "deterministic mean action")
        self.description = (f"{algorithm} expert for {task.name} ({path.name}; {len(hidden)}x{hidden[0]} {activation} "
                            f"actor, {how})")

    def reset(self, obs: np.ndarray) -> None:
        pass

    def normalise(self, obs: np.ndarray) -> np.ndarray:
        z = (np.asarray(obs, dtype=np.float64) - self._mean) / self._scale
        return np.clip(z, -self._clip, self._clip).astype(np.float32)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(self.normalise(obs))
        action = self.actor(z).numpy().astype(np.float64)
        if self._rng is not None:
            return (action + self._std * self._rng.standard_normal(action.shape)).astype(np.float32)
        return np.clip(action, self._low, self._high).astype(np.float32)


def load_rl_expert(task_name: str, env=None, path: str | os.PathLike | None = None,
                   rng: np.random.Generator | None = None, sampled: bool = False) -> RLExpert:
    path = Path(path) if path is not None else expert_path(task_name)
    if not path.is_file():
        raise BenchError(f"{path}: no RL expert file for '{task_name}' (give collect_demos.py --experts-dir a "
                         f"directory holding {task_name}.pt, or train one with workflow/scripts/train_expert.py)")
    space = getattr(env, "action_space", None)
    low = getattr(space, "low", None)
    high = getattr(space, "high", None)
    return RLExpert(path, task_name, low, high, rng=rng if sampled else None)


__all__ = ["FORMAT", "RLExpert", "build_actor", "expert_path", "load_rl_expert", "use_experts_dir"]
