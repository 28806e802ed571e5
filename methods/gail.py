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
- `GAILTrainer`: the generator is stable-baselines3 PPO on a DummyVecEnv of the task env. One
  unit of training (methods.train's schedule) is one rollout: PPO collects it, the discriminator
  trains on it as it ends (so rewards of rollout k come from the discriminator after rollout k-1,
  as in the `imitation` library), then PPO updates on it. The schedule saves the state only at
  segment boundaries; each segment starts from training envs reset from seeds fixed by the
  env-step count (dbc_bench.seeds.gail_train_seed), so a run resumed at a boundary continues
  exactly as the uninterrupted run does (envs, RNGs, optimisers, counters and log window all match).

Why this module is long: GAIL reads top to bottom in one file, as every method here does; its
four pieces above only make sense together, and splitting them would scatter one algorithm.

Action spaces: PPO samples Gaussian actions in the env's raw action space (SB3 clips them to the
bounds before stepping). The returned agent's `act(obs_z)` is the actor mean, clipped to the bounds
like every executed action, mapped to z-scores without the Normalizer's +-10 clamp so that the
driver's `act_norm.inverse` recovers it exactly.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
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
from dbc_bench import seeds
from dbc_bench.errors import BenchError
from dbc_bench.fields import option
from dbc_bench.nets import mlp
from methods.core import Demonstrations, Normalizer, orthogonal_init
from methods.registry import MethodSpec

# log D - log(1 - D) and friends, from the discriminator's logit (D = probability of "expert").
REWARD_FORMS = {
    "gail": "-log(1 - D): never negative, a survival bonus (right when termination means failure)",
    "logd": "log D: never positive, so ending an episode early never costs reward (success tasks)",
    "logit": "log D - log(1 - D): the AIRL form, no sign bias at the discriminator's equilibrium",
}

SEGMENTS = 25  # segment boundaries per run (besides the evaluation points): where a run can resume


@dataclass
class Config:
    """GAIL's settings (config/methods/gail/<task>.yaml): the env-step budget, PPO (the generator),
    the discriminator and its reward."""

    env_steps: int = option(1_000_000, "env-step budget, rounded up to whole rollouts", gt=0)
    n_envs: int = option(8, "training envs stepped together", gt=0)
    n_steps: int = option(256, "steps per env per rollout; a rollout is n_envs * n_steps env steps", gt=0)
    ppo_epochs: int = option(10, "PPO's passes over each rollout (SB3 n_epochs)", gt=0)
    ppo_minibatch: int = option(256, "env steps per PPO minibatch (SB3 batch_size), at most a rollout", gt=0)
    ppo_lr: float = option(3e-4, "PPO's Adam learning rate (initial, see ppo_lr_decay)", gt=0)
    ppo_lr_decay: str = option("constant", "constant, or linear to 0 over the run's env steps",
                               choices=("linear", "constant"))
    ppo_adam_eps: float = option(1e-5, "PPO's Adam epsilon", gt=0)
    ppo_weight_decay: float = option(0.0, "PPO's Adam L2 penalty", ge=0)
    ppo_max_grad_norm: float = option(0.5, "PPO's max gradient norm; 0 disables clipping", ge=0)
    gamma: float = option(0.99, "discount", ge=0, le=1)
    gae_lambda: float = option(0.95, "GAE lambda", ge=0, le=1)
    ent_coef: float = option(0.0, "PPO's entropy bonus weight", ge=0)
    vf_coef: float = option(0.5, "PPO's value loss weight", ge=0)
    clip_range: float = option(0.2, "PPO's ratio clip", gt=0)
    policy_hidden: list[int] = option([256, 256], "actor hidden widths (Tanh)", item_gt=0)
    value_hidden: list[int] = option([256, 256], "critic hidden widths (Tanh)", item_gt=0)
    log_std_init: float = option(0.0, "initial log std of PPO's Gaussian actions")
    normalize_obs: bool = option(True, "z-score PPO's inputs with the demonstrations' statistics")
    normalize_reward: bool = option(True, "divide rewards by a running std of discounted returns")
    disc_hidden: list[int] = option([100, 100], "discriminator hidden widths (Tanh)", item_gt=0)
    disc_lr: float = option(3e-4, "discriminator Adam learning rate", gt=0)
    disc_batch_size: int = option(256, "expert pairs and policy pairs per discriminator update", gt=0)
    disc_updates_per_round: int = option(8, "discriminator updates after each rollout", gt=0)
    grad_penalty: float = option(10.0, "weight of the interpolate gradient penalty; 0 = off", ge=0)
    reward_form: str = option("gail", "the discriminator's reward (REWARD_FORMS)", choices=tuple(REWARD_FORMS))
    reward_clip: float = option(10.0, "rewards clipped to +-this", gt=0)
    bc_warm_start_epochs: int = option(0, "BC epochs on the actor mean before PPO; 0 = off", ge=0)
    bc_warm_start_lr: float = option(1e-3, "the BC warm start's Adam learning rate", gt=0)

    def cross_checks(self) -> list[tuple[str, str]]:
        if self.ppo_minibatch > self.rollout_size:
            return [("ppo_minibatch", f"at most n_envs * n_steps = {self.rollout_size}")]
        return []

    @property
    def rollout_size(self) -> int:
        return self.n_envs * self.n_steps

    @property
    def rollouts(self) -> int:
        """The run's rollouts: the env-step budget rounded up to whole rollouts."""
        return math.ceil(self.env_steps / self.rollout_size)

    def describe_length(self, n_transitions: int = 0) -> str:
        return f"{self.rollouts} rollouts ({self.rollouts * self.rollout_size} env steps)"


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
                optimizer_kwargs=dict(eps=cfg.ppo_adam_eps, weight_decay=cfg.ppo_weight_decay))


def build(cfg: Config, obs_dim: int, act_dim: int, context: dict | None = None) -> GAILAgent:
    """An untrained GAILAgent of this config's architecture, to load a saved model.pt into (the
    action bounds and normalisers are in its state_dict); training is `GAILTrainer`."""
    from gymnasium.spaces import Box
    from stable_baselines3.common.policies import ActorCriticPolicy

    context = context or {}
    policy = ActorCriticPolicy(Box(-np.inf, np.inf, (obs_dim,), np.float32), Box(-1.0, 1.0, (act_dim,), np.float32),
                               lambda _: cfg.ppo_lr, **policy_kwargs(cfg))
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


PPO_STATS = ("approx_kl", "clip_fraction", "entropy_loss", "value_loss", "policy_gradient_loss",
             "explained_variance")


class GAILTrainer:
    """GAIL as a methods.train Trainer: one unit is one PPO rollout of `cfg.rollout_size` env steps,
    the discriminator's round on it and PPO's update on it; `progress()` counts env steps.

    The state (state_dict) holds the policy and value nets with log-std, PPO's Adam state, the
    discriminator and its Adam state, the reward normaliser's statistics, step and update counters,
    the torch, numpy and Python RNGs and the log window; it is taken only at segment boundaries,
    where the next unit resets the envs, so a resumed run ends with the uninterrupted run's result.
    Log rows (one per `log_every` rollouts) average the discriminator rounds and count the training
    episodes since the previous row; PPO's statistics and learning rate in a row are those of the
    update before the row's rollout.
    """

    unit = "rollout"
    segments = SEGMENTS
    log_evaluations = False

    def __init__(self, cfg: Config, task_name: str, data: Demonstrations, *, seed: int,
                 device: torch.device | str, log: Callable[[str], None] = print):
        task = envs.get_task(task_name)
        if (data.obs_dim, data.act_dim) != (task.obs_dim, task.act_dim):
            raise BenchError(f"{data.source}: demonstrations are {data.obs_dim}-D obs / {data.act_dim}-D actions, "
                             f"task '{task_name}' needs {task.obs_dim} / {task.act_dim}")
        self.cfg, self.seed, self.log = cfg, seed, log
        self.device = torch.device(device)
        self.data = data = data.to(self.device)
        self.total = cfg.rollouts
        self.total_env_steps = cfg.rollouts * cfg.rollout_size
        self.fingerprint = f"{cfg!r}|{task_name}|{seed}|{len(data)}|{SEGMENTS} segments"

        set_random_seed(seed)  # the discriminator's init must not depend on the caller's RNG state
        self.disc = Discriminator(task.obs_dim, task.act_dim, cfg.disc_hidden).to(self.device)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.disc_lr)
        self.venv = DummyVecEnv([task.make for _ in range(cfg.n_envs)])
        self.reward_env = DiscriminatorReward(
            self.venv, discriminator_reward_fn(self.disc, data, cfg.reward_form, cfg.reward_clip),
            cfg.gamma if cfg.normalize_reward else None)
        self.env = ZScoreObs(self.reward_env, data.obs_norm) if cfg.normalize_obs else self.reward_env

        # Linear decay over the whole run (SB3's own progress counts only the current learn()
        # call); SB3 sets the rate before each PPO update, after the rollout end that records the steps.
        self._steps_at_rollout_end = 0
        lr = (cfg.ppo_lr if cfg.ppo_lr_decay == "constant"
              else (lambda _: cfg.ppo_lr * (1 - self._steps_at_rollout_end / self.total_env_steps)))
        self.model = PPO(
            "MlpPolicy", self.env, learning_rate=lr, n_steps=cfg.n_steps, batch_size=cfg.ppo_minibatch,
            n_epochs=cfg.ppo_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range,
            ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef,
            max_grad_norm=cfg.ppo_max_grad_norm if cfg.ppo_max_grad_norm > 0 else float("inf"),
            policy_kwargs=policy_kwargs(cfg), seed=seed, device=self.device, verbose=0)
        self.model.set_logger(Logger(folder=None, output_formats=[]))
        space = self.venv.action_space
        # On the trainer's device with its action bounds (created on the CPU from the env's box).
        self.agent = GAILAgent(self.model.policy, self.disc, data.obs_norm, data.act_norm, space.low, space.high,
                               cfg.normalize_obs).to(self.device)
        self._callback = _RolloutEnd(self._rollout_end)
        self._warm_start_due = cfg.bc_warm_start_epochs > 0  # a fresh run's first unit starts with it
        self._ppo_stats: dict[str, float] = {}  # after PPO's latest update
        self._window = self._new_window()

    def _new_window(self) -> dict:
        self.reward_env.disc_reward_sum, self.reward_env.disc_reward_count = 0.0, 0
        return {"disc": [], "episodes": [], "lr": float("nan"), "ppo": {}}

    def _rollout_end(self) -> None:
        """The discriminator's round on the rollout just collected, before PPO updates on it."""
        model, data = self.model, self.data
        self._steps_at_rollout_end = model.num_timesteps
        obs, act = self.reward_env.take_pairs()
        with torch.no_grad():
            pol_obs = data.obs_norm(torch.as_tensor(obs, device=self.device))
            pol_act = data.act_norm(torch.as_tensor(act, device=self.device))
        cfg = self.cfg
        self._window["disc"].append(train_discriminator(self.disc, self.disc_opt, data, pol_obs, pol_act,
                                                        cfg.disc_updates_per_round, cfg.disc_batch_size,
                                                        cfg.grad_penalty))
        self._window["episodes"] += self.reward_env.take_episodes()
        self._window["lr"] = float(model.policy.optimizer.param_groups[0]["lr"])
        self._window["ppo"] = dict(self._ppo_stats)

    def step(self, segment_start: bool) -> None:
        if self._warm_start_due:
            self._warm_start_due = False
            mse = bc_warm_start(self.model.policy, self.data, self.cfg.bc_warm_start_epochs,
                                self.cfg.bc_warm_start_lr, self.cfg.normalize_obs)
            self.log(f"BC warm start: {self.cfg.bc_warm_start_epochs} epochs, action MSE {mse:.4f}")
        if segment_start:
            self.venv.seed(seeds.gail_train_seed(self.seed, int(self.model.num_timesteps)))
            self.model._last_obs = None  # makes learn() reset the envs
        self.model.learn(total_timesteps=self.cfg.rollout_size, callback=self._callback, log_interval=None,
                         reset_num_timesteps=False)
        ppo = self.model.logger.name_to_value
        self._ppo_stats = {k: float(ppo.get(f"train/{k}", float("nan"))) for k in PPO_STATS}

    def log_row(self, units: int, seconds: float) -> dict:
        steps = int(self.model.num_timesteps)
        window, env = self._window, self.reward_env
        episodes = window["episodes"]
        disc_stats = {k: float(np.mean([d[k] for d in window["disc"]])) for k in window["disc"][0]}
        row = {
            "env_steps": steps,
            "env_steps_per_s": units * self.cfg.rollout_size / max(seconds, 1e-9),
            **disc_stats,
            "disc_reward": env.disc_reward_sum / max(env.disc_reward_count, 1),
            "train_episodes": len(episodes),
            "true_return": float(np.mean([e[0] for e in episodes])) if episodes else float("nan"),
            "train_success": float(np.mean([e[1] for e in episodes])) if episodes else float("nan"),
            "lr": window["lr"],
            **{f"ppo_{k}": window["ppo"].get(k, float("nan")) for k in PPO_STATS},
        }
        if not all(math.isfinite(row[k]) for k in ("disc_loss", "disc_reward")):
            raise BenchError(f"training diverged: discriminator loss {row['disc_loss']} at env step {steps}; "
                             f"lower disc_lr (={self.cfg.disc_lr}) and rerun")
        self._window = self._new_window()
        return row

    def summary(self, row: dict) -> str:
        return (f"env step {row['env_steps']}/{self.total_env_steps}  {row['env_steps_per_s']:.0f} steps/s  "
                f"disc loss {row['disc_loss']:.3f} acc expert {row['disc_acc_expert']:.2f} "
                f"policy {row['disc_acc_policy']:.2f}  true return {row['true_return']:.3f}")

    def progress(self) -> int:
        return int(self.model.num_timesteps)

    def state_dict(self) -> dict:
        model, rms, env = self.model, self.reward_env.ret_rms, self.reward_env
        state = {
            "env_steps": int(model.num_timesteps), "ppo_updates": int(model._n_updates),
            "policy": model.policy.state_dict(), "policy_optimizer": model.policy.optimizer.state_dict(),
            "discriminator": self.disc.state_dict(), "disc_optimizer": self.disc_opt.state_dict(),
            "ret_rms": [torch.as_tensor(rms.mean), torch.as_tensor(rms.var), float(rms.count)],
            "rng": torch.get_rng_state(), "numpy_rng": _numpy_rng_as_tensors(), "python_rng": random.getstate(),
            "ppo_stats": self._ppo_stats,
            "window": {**self._window, "disc_reward": [env.disc_reward_sum, env.disc_reward_count]},
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict) -> None:
        model, rms = self.model, self.reward_env.ret_rms
        model.policy.load_state_dict(state["policy"])
        model.policy.optimizer.load_state_dict(state["policy_optimizer"])
        self.disc.load_state_dict(state["discriminator"])
        self.disc_opt.load_state_dict(state["disc_optimizer"])
        rms.mean, rms.var = state["ret_rms"][0].double().numpy(), state["ret_rms"][1].double().numpy()
        rms.count = float(state["ret_rms"][2])
        model.num_timesteps, model._n_updates = state["env_steps"], state["ppo_updates"]
        self._steps_at_rollout_end = state["env_steps"]
        torch.set_rng_state(state["rng"])
        np.random.set_state(_numpy_rng_from_tensors(state["numpy_rng"]))  # SB3 shuffles PPO minibatches with it
        random.setstate(state["python_rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self._ppo_stats = dict(state["ppo_stats"])
        window = dict(state["window"])
        self.reward_env.disc_reward_sum, self.reward_env.disc_reward_count = window.pop("disc_reward")
        self._window = window
        self._warm_start_due = False

    def close(self) -> None:
        self.env.close()
        self.agent.eval()


METHOD = MethodSpec(name="gail", label="GAIL", config=Config, trainer=GAILTrainer, build=build, rank=4)
