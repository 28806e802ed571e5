"""GAIL (Ho & Ermon, 2016) with a PPO generator: an online imitation baseline.

GAIL is not one of the DBC paper's baselines; it is here as the standard method that may interact
with the environment (without its reward), to put the offline methods' scores in context.

Pieces:
- `Discriminator`: an MLP on z-scored (state, action) pairs (the demonstrations' normalisers),
  logit > 0 meaning "expert". Trained by binary cross-entropy, expert pairs against the pairs of
  the latest PPO rollout, optionally with a WGAN-GP style penalty (||grad|| - 1)^2 on random
  interpolates between the two.
- `DiscriminatorReward`: a VecEnvWrapper that replaces each step's reward by the discriminator's
  reward for the (observation, action) that produced it; the env's own reward goes to
  info['true_reward'] and only ever reaches the logs.
- `ZScoreObs`: feeds PPO observations z-scored with the demonstrations' statistics (fixed, so
  nothing to save or sync, and exactly the transform the evaluation driver applies).
- The generator is stable-baselines3 PPO on a DummyVecEnv of the task env. A callback trains the
  discriminator at the end of every rollout (so rewards of rollout k come from the discriminator
  after rollout k-1, as in the `imitation` library).
- Training runs in segments of whole rollouts. At each segment boundary the training envs are
  reset from seeds fixed by the env-step count, evaluations fall due and the resumable state may
  be saved; since every run resets there, a run resumed from a boundary continues exactly as the
  uninterrupted run does (envs, RNGs, optimisers and counters all match).

Action spaces: PPO samples Gaussian actions in the env's raw action space (SB3 clips them to the
bounds before stepping). The returned agent's `act(obs_z)` is the actor mean, clipped to the bounds
like every executed action, mapped to z-scores without the Normalizer's +-10 clamp so that the
driver's `act_norm.inverse` recovers it exactly.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnvWrapper
from torch import nn

import envs
from methods.core import BenchError, Demonstrations, Normalizer, mlp, orthogonal_init, save_atomic
from methods.train import TrainConfig, TrainResult, evaluation_points, load_resume_state

ONLINE = True

# log D - log(1 - D) and friends, from the discriminator's logit (D = probability of "expert").
REWARD_FORMS = {
    "gail": "-log(1 - D): never negative, a survival bonus (right when termination means failure)",
    "logd": "log D: never positive, so ending an episode early never costs reward (success tasks)",
    "logit": "log D - log(1 - D): the AIRL form, no sign bias at the discriminator's equilibrium",
}

# Training envs are reset from these seeds up: disjoint from demonstrations (0 up) and
# evaluations (1,000,000 up; methods.evaluate); each training seed has its own block.
TRAIN_SEED_BASE = 2_000_000
TRAIN_SEED_BLOCK = 1_000_000_000
SEGMENTS = 25  # segment boundaries per run (besides the evaluation points): where a run can resume
STATE_VERSION = 2  # states saved by another version of this file are not resumed


@dataclass
class Config(TrainConfig):
    """TrainConfig's fields keep their names and apply to PPO: `lr`, `adam_eps`, `weight_decay`,
    `grad_clip` (max grad norm; 0 = off) and `lr_decay` are the PPO optimiser's, `epochs` is PPO's
    passes over each rollout (n_epochs) and `batch_size` its minibatch."""

    epochs: int = 10
    batch_size: int = 256
    lr: float = 3e-4
    adam_eps: float = 1e-5
    lr_decay: str = "constant"
    env_steps: int = 1_000_000          # total budget, rounded up to whole rollouts
    n_envs: int = 8
    n_steps: int = 256                  # steps per env per rollout
    gamma: float = 0.99
    gae_lambda: float = 0.95
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    clip_range: float = 0.2
    policy_hidden: list[int] = field(default_factory=lambda: [256, 256])
    value_hidden: list[int] = field(default_factory=lambda: [256, 256])
    log_std_init: float = 0.0
    normalize_obs: bool = True          # z-score PPO's inputs with the demonstrations' statistics
    normalize_reward: bool = True       # divide rewards by a running std of discounted returns
    disc_hidden: list[int] = field(default_factory=lambda: [100, 100])
    disc_lr: float = 3e-4
    disc_batch_size: int = 256          # expert pairs and policy pairs per discriminator update
    disc_updates_per_round: int = 8     # discriminator updates after each rollout
    grad_penalty: float = 10.0          # weight of the interpolate gradient penalty; 0 = off
    reward_form: str = "gail"
    reward_clip: float = 10.0
    bc_warm_start_epochs: int = 0       # BC epochs on the actor mean before PPO; 0 = off
    bc_warm_start_lr: float = 1e-3

    def validate(self, source: str) -> None:
        super().validate(source)

        def fail(name: str, what: str) -> None:
            raise BenchError(f"{source}: field '{name}' must be {what}, got {getattr(self, name)!r}")

        def is_int(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        for name in ("env_steps", "n_envs", "n_steps", "disc_batch_size", "disc_updates_per_round"):
            if not is_int(getattr(self, name)) or getattr(self, name) <= 0:
                fail(name, "a positive integer")
        if not is_int(self.bc_warm_start_epochs) or self.bc_warm_start_epochs < 0:
            fail("bc_warm_start_epochs", "an integer >= 0")
        for name in ("gamma", "gae_lambda"):
            if not is_num(getattr(self, name)) or not 0 <= getattr(self, name) <= 1:
                fail(name, "a number in [0, 1]")
        for name in ("clip_range", "disc_lr", "reward_clip", "bc_warm_start_lr", "adam_eps"):
            if not is_num(getattr(self, name)) or getattr(self, name) <= 0:
                fail(name, "a positive number")
        for name in ("ent_coef", "vf_coef", "grad_penalty"):
            if not is_num(getattr(self, name)) or getattr(self, name) < 0:
                fail(name, "a number >= 0")
        if not is_num(self.log_std_init):
            fail("log_std_init", "a number")
        for name in ("policy_hidden", "value_hidden", "disc_hidden"):
            widths = getattr(self, name)
            if not isinstance(widths, list) or not widths or any(not is_int(w) or w <= 0 for w in widths):
                fail(name, "a list of positive widths")
        for name in ("normalize_obs", "normalize_reward"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "true or false")
        if self.reward_form not in REWARD_FORMS:
            fail("reward_form", "one of " + ", ".join(REWARD_FORMS))
        if self.batch_size > self.rollout_size:
            fail("batch_size", f"at most n_envs * n_steps = {self.rollout_size}")

    @property
    def rollout_size(self) -> int:
        return self.n_envs * self.n_steps

    def total_updates(self, n_transitions: int = 0) -> int:
        """For an online method the unit is env steps: the budget rounded up to whole rollouts."""
        return math.ceil(self.env_steps / self.rollout_size) * self.rollout_size


# ----------------------------------------------------------------------------- discriminator

class Discriminator(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: list[int]):
        super().__init__()
        self.net = orthogonal_init(mlp(obs_dim + act_dim, hidden, 1, nn.Tanh))

    def forward(self, obs_z: torch.Tensor, act_z: torch.Tensor) -> torch.Tensor:
        """Logit of P(expert | s, a), shape [B]."""
        return self.net(torch.cat([obs_z, act_z], dim=-1)).squeeze(-1)

    def reward(self, obs_z: torch.Tensor, act_z: torch.Tensor, form: str, clip: float) -> torch.Tensor:
        logit = self(obs_z, act_z)
        if form == "gail":
            r = F.softplus(logit)        # -log(1 - sigmoid(logit))
        elif form == "logd":
            r = -F.softplus(-logit)      # log sigmoid(logit)
        elif form == "logit":
            r = logit
        else:
            raise BenchError(f"unknown reward form '{form}'; choose from {', '.join(REWARD_FORMS)}")
        return r.clamp(-clip, clip)

    def loss(self, exp_obs, exp_act, pol_obs, pol_act, grad_penalty: float = 0.0):
        exp_logit, pol_logit = self(exp_obs, exp_act), self(pol_obs, pol_act)
        bce = (F.binary_cross_entropy_with_logits(exp_logit, torch.ones_like(exp_logit))
               + F.binary_cross_entropy_with_logits(pol_logit, torch.zeros_like(pol_logit)))
        total, gp = bce, torch.zeros((), device=bce.device)
        if grad_penalty > 0:
            exp_x, pol_x = torch.cat([exp_obs, exp_act], -1), torch.cat([pol_obs, pol_act], -1)
            n = min(len(exp_x), len(pol_x))
            alpha = torch.rand(n, 1, device=exp_x.device)
            mix = (alpha * exp_x[:n] + (1 - alpha) * pol_x[:n]).requires_grad_(True)
            grad, = torch.autograd.grad(self.net(mix).sum(), mix, create_graph=True)
            gp = ((grad.norm(2, dim=1) - 1) ** 2).mean()
            total = bce + grad_penalty * gp
        stats = {"disc_loss": bce.detach(), "disc_grad_penalty": gp.detach(),
                 "disc_acc_expert": (exp_logit > 0).float().mean().detach(),
                 "disc_acc_policy": (pol_logit < 0).float().mean().detach()}
        return total, stats


def train_discriminator(disc: Discriminator, optimizer: torch.optim.Optimizer, data: Demonstrations,
                        pol_obs_z: torch.Tensor, pol_act_z: torch.Tensor, updates: int, batch_size: int,
                        grad_penalty: float) -> dict[str, float]:
    """`updates` Adam steps on expert vs policy minibatches; returns the mean statistics."""
    totals: dict[str, torch.Tensor] = {}
    disc.train()
    for _ in range(updates):
        ie = torch.randint(len(data), (batch_size,), device=data.obs.device)
        ip = torch.randint(len(pol_obs_z), (batch_size,), device=pol_obs_z.device)
        loss, stats = disc.loss(data.obs[ie], data.act[ie], pol_obs_z[ip], pol_act_z[ip], grad_penalty)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        for k, v in stats.items():
            totals[k] = totals.get(k, 0) + v
    return {k: float(v) / updates for k, v in totals.items()}


def discriminator_reward_fn(disc: Discriminator, data: Demonstrations, form: str,
                            clip: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """(raw obs [B, obs_dim], raw actions [B, act_dim]) numpy -> rewards [B], z-scoring both with
    the demonstrations' normalisers as in discriminator training."""
    device = data.obs.device

    def reward_fn(obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            o = data.obs_norm(torch.as_tensor(obs, dtype=torch.float32, device=device))
            a = data.act_norm(torch.as_tensor(act, dtype=torch.float32, device=device))
            return disc.reward(o, a, form, clip).cpu().numpy()

    return reward_fn


# ----------------------------------------------------------------------------- env wrappers

def _zscore_np(norm: Normalizer) -> Callable[[np.ndarray], np.ndarray]:
    """The Normalizer's transform in float32 numpy (same arithmetic, no tensor round trip)."""
    mean = norm.mean.detach().cpu().numpy().astype(np.float32)
    std = norm.std.detach().cpu().numpy().astype(np.float32)
    clip = np.float32(norm.clip)
    return lambda x: np.clip((np.asarray(x, np.float32) - mean) / std, -clip, clip)


class DiscriminatorReward(VecEnvWrapper):
    """Replaces rewards by `reward_fn(obs, actions)` of the (raw) observation before each step and
    the (clipped) action taken; keeps the env's reward in info['true_reward'].

    Also keeps every (obs, action) pair since the last `take_pairs()` (the discriminator's policy
    samples) and the true return / success of every finished episode (`take_episodes()`).
    With `normalize_gamma`, rewards are divided by a running std of the discounted return (as
    SB3's VecNormalize; no mean subtraction, so the reward form's sign is kept).
    """

    def __init__(self, venv, reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 normalize_gamma: float | None = None):
        super().__init__(venv)
        self.reward_fn = reward_fn
        self.normalize_gamma = normalize_gamma
        self.ret_rms = RunningMeanStd(shape=())
        self._ret = np.zeros(self.num_envs)
        self._obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None
        self._pairs: list[tuple[np.ndarray, np.ndarray]] = []
        self._ep_return = np.zeros(self.num_envs)
        self._ep_success = np.zeros(self.num_envs, dtype=bool)
        self._episodes: list[tuple[float, bool]] = []
        self.disc_reward_sum, self.disc_reward_count = 0.0, 0

    def reset(self):
        self._obs = self.venv.reset()
        self._ret[:] = 0
        self._ep_return[:] = 0
        self._ep_success[:] = False
        return self._obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.float32).copy()
        self.venv.step_async(actions)

    def step_wait(self):
        obs, true_rew, dones, infos = self.venv.step_wait()
        prev_obs = np.asarray(self._obs, dtype=np.float32)
        rew = np.asarray(self.reward_fn(prev_obs, self._actions), dtype=np.float32).reshape(self.num_envs)
        self._pairs.append((prev_obs, self._actions))
        self.disc_reward_sum += float(rew.sum())
        self.disc_reward_count += len(rew)
        self._ep_return += true_rew
        for i, info in enumerate(infos):
            info["true_reward"] = float(true_rew[i])
            self._ep_success[i] |= bool(info.get("success", False))
            if dones[i]:
                self._episodes.append((float(self._ep_return[i]), bool(self._ep_success[i])))
                self._ep_return[i], self._ep_success[i] = 0.0, False
        if self.normalize_gamma is not None:
            self._ret = self._ret * self.normalize_gamma + rew
            self.ret_rms.update(self._ret)
            rew = (rew / np.sqrt(self.ret_rms.var + 1e-8)).astype(np.float32)
            self._ret[dones] = 0
        self._obs = obs
        return obs, rew, dones, infos

    def take_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        obs = np.concatenate([o for o, _ in self._pairs])
        act = np.concatenate([a for _, a in self._pairs])
        self._pairs = []
        return obs, act

    def take_episodes(self) -> list[tuple[float, bool]]:
        episodes, self._episodes = self._episodes, []
        return episodes


class ZScoreObs(VecEnvWrapper):
    """Observations (terminal ones included, which SB3 bootstraps from) z-scored by a fixed Normalizer."""

    def __init__(self, venv, norm: Normalizer):
        super().__init__(venv)
        self._z = _zscore_np(norm)

    def reset(self):
        return self._z(self.venv.reset())

    def step_wait(self):
        obs, rew, dones, infos = self.venv.step_wait()
        for info in infos:
            if "terminal_observation" in info:
                info["terminal_observation"] = self._z(info["terminal_observation"])
        return self._z(obs), rew, dones, infos


# ----------------------------------------------------------------------------- agent

def actor_mean(policy, obs: torch.Tensor) -> torch.Tensor:
    """The Gaussian actor's mean for PPO-space observations (deterministic action before clipping)."""
    features = policy.extract_features(obs, policy.pi_features_extractor)
    return policy.action_net(policy.mlp_extractor.forward_actor(features))


class GAILAgent(nn.Module):
    """What the driver evaluates and saves: `act(obs_z) -> action_z`, deterministic.

    Holds the SB3 policy (actor and critic), the discriminator and the normalisers, so its
    state_dict is the whole learned state in weights-only form.
    """

    def __init__(self, policy: nn.Module, discriminator: Discriminator, obs_norm: Normalizer,
                 act_norm: Normalizer, low: np.ndarray, high: np.ndarray, normalize_obs: bool):
        super().__init__()
        self.policy = policy
        self.discriminator = discriminator
        self.obs_norm = Normalizer(obs_norm.mean, obs_norm.std, obs_norm.clip)
        self.act_norm = Normalizer(act_norm.mean, act_norm.std, act_norm.clip)
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))
        self.normalize_obs = normalize_obs

    def raw_action(self, obs_z: torch.Tensor) -> torch.Tensor:
        # Without obs normalisation PPO saw raw observations: undo the driver's z-score (exact
        # except where the +-10 clamp bit, i.e. far outside the demonstrations).
        obs = obs_z if self.normalize_obs else self.obs_norm.inverse(obs_z)
        return torch.clamp(actor_mean(self.policy, obs.float()), self.low, self.high)

    def act(self, obs_z: torch.Tensor) -> torch.Tensor:
        return (self.raw_action(obs_z) - self.act_norm.mean) / self.act_norm.std

    def forward(self, obs_z: torch.Tensor) -> torch.Tensor:
        return self.act(obs_z)


def policy_kwargs(cfg: Config) -> dict:
    """The SB3 actor-critic's architecture (PPO's `policy_kwargs`)."""
    return dict(net_arch=dict(pi=list(cfg.policy_hidden), vf=list(cfg.value_hidden)), activation_fn=nn.Tanh,
                log_std_init=cfg.log_std_init,
                optimizer_kwargs=dict(eps=cfg.adam_eps, weight_decay=cfg.weight_decay))


def build(cfg: Config, obs_dim: int, act_dim: int, context: dict | None = None) -> GAILAgent:
    """An untrained GAILAgent of this config's architecture, to load a saved model.pt into (the
    action bounds and normalisers are in its state_dict); training is `train_online`."""
    from gymnasium.spaces import Box
    from stable_baselines3.common.policies import ActorCriticPolicy

    context = context or {}
    policy = ActorCriticPolicy(Box(-np.inf, np.inf, (obs_dim,), np.float32), Box(-1.0, 1.0, (act_dim,), np.float32),
                               lambda _: cfg.lr, **policy_kwargs(cfg))
    obs_norm = context["obs_norm"] if "obs_norm" in context else Normalizer.empty(obs_dim)
    act_norm = context["act_norm"] if "act_norm" in context else Normalizer.empty(act_dim)
    return GAILAgent(policy, Discriminator(obs_dim, act_dim, cfg.disc_hidden), obs_norm, act_norm,
                     -np.ones(act_dim, np.float32), np.ones(act_dim, np.float32), cfg.normalize_obs)


def bc_warm_start(policy, data: Demonstrations, epochs: int, lr: float, normalize_obs: bool,
                  batch_size: int = 256) -> float:
    """Fits the actor mean (raw action space) to the expert actions by MSE; returns the last
    epoch's loss. The critic and log-std are left alone."""
    obs = data.obs if normalize_obs else data.obs_norm.inverse(data.obs)
    target = data.act_norm.inverse(data.act)
    params = list(policy.mlp_extractor.policy_net.parameters()) + list(policy.action_net.parameters())
    optimizer = torch.optim.Adam(params, lr=lr)
    n, last = len(data), float("nan")
    for _ in range(epochs):
        perm = torch.randperm(n, device=obs.device)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            loss = F.mse_loss(actor_mean(policy, obs[idx]), target[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        last = total / n
    return last


# ----------------------------------------------------------------------------- training

class _RolloutEnd(BaseCallback):
    def __init__(self, on_end: Callable[[], None]):
        super().__init__()
        self._end = on_end

    def _on_rollout_end(self) -> None:
        self._end()

    def _on_step(self) -> bool:
        return True


def _numpy_rng_as_tensors() -> dict:
    """numpy's global RNG state in a form weights-only loading accepts (no numpy arrays)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _numpy_rng_from_tensors(state: dict) -> tuple:
    return (state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"],
            state["cached_gaussian"])


def segment_ends(n_rollouts: int, eval_rollouts: list[int], segments: int = SEGMENTS) -> list[int]:
    """Rollout counts that end a segment: every ~n/segments rollouts, each evaluation point, the end."""
    every = max(1, n_rollouts // segments)
    return sorted({*range(every, n_rollouts + 1, every), *eval_rollouts, n_rollouts})


PPO_STATS = ("approx_kl", "clip_fraction", "entropy_loss", "value_loss", "policy_gradient_loss",
             "explained_variance")


def train_online(cfg: Config, task_name: str, data: Demonstrations, *, seed: int, device: torch.device | str,
                 evaluate: Callable[[nn.Module], list[dict]], eval_points: int, state_path: str | Path,
                 log: Callable[[str], None] = print, fingerprint: str = "",
                 checkpoint_seconds: float = 120.0) -> tuple[GAILAgent, TrainResult]:
    """Train GAIL for `cfg.env_steps` env steps (rounded up to whole rollouts).

    `evaluate(agent)` runs at `eval_points` evenly spaced rollout boundaries, the last after the
    final PPO update; its rows, tagged "update" = env steps so far, form TrainResult.curve. The
    state is saved at segment boundaries (`segment_ends`) that follow an evaluation or come
    `checkpoint_seconds` after the last save; on a rerun with the same `fingerprint` and config it
    restores policy and value nets with log-std, PPO's Adam state, discriminator and its Adam
    state, reward-normaliser statistics, step and update counters, the torch, numpy and Python
    RNGs, log and curve, and the envs are reset as at every boundary: the resumed run ends with
    the uninterrupted run's result. (Only timing figures and the log row that spans the kill differ.)
    """
    task = envs.get_task(task_name)
    if (data.obs_dim, data.act_dim) != (task.obs_dim, task.act_dim):
        raise BenchError(f"{data.source}: demonstrations are {data.obs_dim}-D obs / {data.act_dim}-D actions, "
                         f"task '{task_name}' needs {task.obs_dim} / {task.act_dim}")
    device = torch.device(device)
    data = data.to(device)
    state_path = Path(state_path)
    total = cfg.total_updates()
    n_rollouts = total // cfg.rollout_size
    eval_at = [k * cfg.rollout_size for k in evaluation_points(n_rollouts, eval_points)]
    fingerprint = f"{fingerprint}|{cfg!r}|{task_name}|{seed}|{len(data)}|state v{STATE_VERSION}, {SEGMENTS} segments"

    state = load_resume_state(state_path, fingerprint, log)

    set_random_seed(seed)  # the discriminator's init must not depend on the caller's RNG state
    disc = Discriminator(task.obs_dim, task.act_dim, cfg.disc_hidden).to(device)
    disc_opt = torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr)

    venv = DummyVecEnv([task.make for _ in range(cfg.n_envs)])
    reward_env = DiscriminatorReward(venv, discriminator_reward_fn(disc, data, cfg.reward_form, cfg.reward_clip),
                                     cfg.gamma if cfg.normalize_reward else None)
    env = ZScoreObs(reward_env, data.obs_norm) if cfg.normalize_obs else reward_env

    # Linear decay over the whole run (SB3's own progress counts only the current segment); SB3
    # sets the rate before each PPO update, after the rollout that on_rollout_end records.
    steps_done = {"n": 0}
    lr = cfg.lr if cfg.lr_decay == "constant" else (lambda _: cfg.lr * (1 - steps_done["n"] / total))
    model = PPO(
        "MlpPolicy", env, learning_rate=lr, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
        n_epochs=cfg.epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range,
        ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.grad_clip if cfg.grad_clip > 0 else float("inf"),
        policy_kwargs=policy_kwargs(cfg),
        seed=seed, device=device, verbose=0)
    model.set_logger(Logger(folder=None, output_formats=[]))
    space = venv.action_space
    agent = GAILAgent(model.policy, disc, data.obs_norm, data.act_norm, space.low, space.high, cfg.normalize_obs)

    log_rows: list[dict] = []
    curve: list[dict] = []
    spent = 0.0
    if state is not None:
        model.policy.load_state_dict(state["policy"])
        model.policy.optimizer.load_state_dict(state["policy_optimizer"])
        disc.load_state_dict(state["discriminator"])
        disc_opt.load_state_dict(state["disc_optimizer"])
        reward_env.ret_rms.mean = state["ret_rms"][0].double().numpy()
        reward_env.ret_rms.var = state["ret_rms"][1].double().numpy()
        reward_env.ret_rms.count = float(state["ret_rms"][2])
        model.num_timesteps, model._n_updates = state["env_steps"], state["ppo_updates"]
        torch.set_rng_state(state["rng"])
        np.random.set_state(_numpy_rng_from_tensors(state["numpy_rng"]))  # SB3 shuffles PPO minibatches with it
        random.setstate(state["python_rng"])
        log_rows, curve, spent = state["log"], state["curve"], state["train_seconds"]
        log(f"resuming from {state_path} at env step {model.num_timesteps}/{total}")
    elif cfg.bc_warm_start_epochs > 0:
        t0 = time.perf_counter()
        mse = bc_warm_start(model.policy, data, cfg.bc_warm_start_epochs, cfg.bc_warm_start_lr, cfg.normalize_obs)
        spent += time.perf_counter() - t0
        log(f"BC warm start: {cfg.bc_warm_start_epochs} epochs, action MSE {mse:.4f}")

    pending = [m for m in eval_at if m > model.num_timesteps]
    log_every = max(1, n_rollouts // 50)
    clock = {"mark": time.perf_counter(), "last_save": time.perf_counter()}
    window: dict = {}

    def train_clock() -> float:
        return spent + time.perf_counter() - clock["mark"]

    def new_window() -> None:
        window.update(steps=model.num_timesteps, t=train_clock(), disc=[], episodes=[])
        reward_env.disc_reward_sum, reward_env.disc_reward_count = 0.0, 0

    def pause() -> None:
        nonlocal spent
        spent += time.perf_counter() - clock["mark"]

    def resume_clock() -> None:
        clock["mark"] = time.perf_counter()

    def save_state() -> None:
        rms = reward_env.ret_rms
        save_atomic({
            "fingerprint": fingerprint, "env_steps": int(model.num_timesteps),
            "ppo_updates": int(model._n_updates), "policy": model.policy.state_dict(),
            "policy_optimizer": model.policy.optimizer.state_dict(), "discriminator": disc.state_dict(),
            "disc_optimizer": disc_opt.state_dict(),
            "ret_rms": [torch.as_tensor(rms.mean), torch.as_tensor(rms.var), float(rms.count)],
            "rng": torch.get_rng_state(), "numpy_rng": _numpy_rng_as_tensors(), "python_rng": random.getstate(),
            "log": log_rows, "curve": curve, "train_seconds": spent,
        }, state_path)
        clock["last_save"] = time.perf_counter()

    def run_evaluation() -> None:
        steps = int(model.num_timesteps)
        was_training = agent.training
        agent.eval()
        rows = evaluate(agent)
        agent.train(was_training)
        curve.extend({"update": steps, **r} for r in rows)

    def on_rollout_end() -> None:
        steps_done["n"] = model.num_timesteps
        obs, act = reward_env.take_pairs()
        with torch.no_grad():
            pol_obs = data.obs_norm(torch.as_tensor(obs, device=device))
            pol_act = data.act_norm(torch.as_tensor(act, device=device))
        window["disc"].append(train_discriminator(disc, disc_opt, data, pol_obs, pol_act,
                                                  cfg.disc_updates_per_round, cfg.disc_batch_size,
                                                  cfg.grad_penalty))
        window["episodes"] += reward_env.take_episodes()
        rollout_index = model.num_timesteps // cfg.rollout_size
        if rollout_index % log_every == 0 or model.num_timesteps >= total:
            write_log_row()

    def write_log_row() -> None:
        now = train_clock()
        steps = int(model.num_timesteps)
        episodes = window["episodes"]
        disc_stats = {k: float(np.mean([d[k] for d in window["disc"]])) for k in window["disc"][0]}
        ppo = model.logger.name_to_value
        row = {
            "env_steps": steps,
            "env_steps_per_s": (steps - window["steps"]) / max(now - window["t"], 1e-9),
            **disc_stats,
            "disc_reward": reward_env.disc_reward_sum / max(reward_env.disc_reward_count, 1),
            "train_episodes": len(episodes),
            "true_return": float(np.mean([e[0] for e in episodes])) if episodes else float("nan"),
            "train_success": float(np.mean([e[1] for e in episodes])) if episodes else float("nan"),
            "lr": float(model.policy.optimizer.param_groups[0]["lr"]),
            **{f"ppo_{k}": float(ppo.get(f"train/{k}", float("nan"))) for k in PPO_STATS},
        }
        if not all(math.isfinite(row[k]) for k in ("disc_loss", "disc_reward")):
            raise BenchError(f"training diverged: discriminator loss {row['disc_loss']} at env step {steps}; "
                             f"lower disc_lr (={cfg.disc_lr}) and rerun")
        log_rows.append(row)
        if len(log_rows) % 10 == 0 or steps >= total:
            log(f"env step {steps}/{total}  {row['env_steps_per_s']:.0f} steps/s  disc loss {row['disc_loss']:.3f} "
                f"acc expert {row['disc_acc_expert']:.2f} policy {row['disc_acc_policy']:.2f}  "
                f"true return {row['true_return']:.3f}")
        new_window()

    new_window()
    for end in [k * cfg.rollout_size for k in segment_ends(n_rollouts, [m // cfg.rollout_size for m in eval_at])]:
        if end <= model.num_timesteps:
            continue
        # Every segment starts from envs reset with seeds fixed by the step count, so that a run
        # resumed here continues exactly as the uninterrupted one.
        venv.seed(TRAIN_SEED_BASE + TRAIN_SEED_BLOCK * seed + int(model.num_timesteps))
        model._last_obs = None  # makes learn() reset the envs
        resume_clock()
        model.learn(total_timesteps=end - model.num_timesteps, callback=_RolloutEnd(on_rollout_end),
                    log_interval=None, reset_num_timesteps=False)
        pause()  # evaluation and saving are no training time
        evaluated = bool(pending) and pending[0] <= model.num_timesteps
        while pending and pending[0] <= model.num_timesteps:
            pending.pop(0)
            run_evaluation()
        if evaluated or end == total or time.perf_counter() - clock["last_save"] > checkpoint_seconds:
            save_state()
    env.close()
    agent.eval()
    return agent, TrainResult(updates=total, train_seconds=spent,
                              updates_per_second=total / max(spent, 1e-9), log=log_rows, curve=curve)
