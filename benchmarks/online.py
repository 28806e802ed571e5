"""GAIL's training against stable-baselines3 PPO alone: what the discriminator, its reward wrapper and
the trainer's bookkeeping cost per env step.

Kept to one function on the smallest surface of the GAIL trainer: its registry entry builds it, the
methods.train Trainer protocol steps it (one rollout a step) and counts its env steps, and its config
fields set PPO alone up alike; a change to methods/gail.py touches only this file.
"""
from __future__ import annotations

import dataclasses
import time

from torch import nn

import envs
from benchmarks.timing import alternating_medians
from benchmarks.trainers import CONFIG_DIR, random_demos
from methods import registry
from methods.config import resolve

BUDGET = "default"  # GAIL's settings as the default budget runs them
TINY = dict(n_envs=2, n_steps=32, ppo_minibatch=32, ppo_epochs=1, policy_hidden=[16], value_hidden=[16],
            disc_hidden=[16])


def gail_row(task: str, rollouts: int, rounds: int, tiny: bool, device: str = "cpu") -> dict:
    """Env steps/s over `rollouts` PPO rollouts of the GAIL trainer (rollout, discriminator round, PPO
    update; built and evaluated outside the timing) and of SB3 PPO alone on the same envs with the
    same vectorisation, networks and optimisation, alternating."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    make_trainer = registry.methods()["gail"].trainer
    t = envs.TASKS[task]
    cfg = resolve(CONFIG_DIR, BUDGET, "gail", task)
    # No BC warm start: it is a one-off before the first rollout, not a per-step cost.
    cfg = dataclasses.replace(cfg, **(TINY if tiny else {}), bc_warm_start_epochs=0)
    data = random_demos(t.obs_dim, t.act_dim)

    def with_gail() -> float:
        trainer = make_trainer(cfg, task, data.to(device), seed=1, device=device, log=lambda line: None)
        try:
            before, start = trainer.progress(), time.perf_counter()
            for i in range(rollouts):
                trainer.step(segment_start=i == 0)  # the first resets the envs, as PPO's learn() does
            return (trainer.progress() - before) / (time.perf_counter() - start)
        finally:
            trainer.close()

    def ppo_alone() -> float:
        venv = DummyVecEnv([t.make for _ in range(cfg.n_envs)])
        model = PPO("MlpPolicy", venv, learning_rate=cfg.ppo_lr, n_steps=cfg.n_steps, batch_size=cfg.ppo_minibatch,
                    n_epochs=cfg.ppo_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range,
                    ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef, max_grad_norm=cfg.ppo_max_grad_norm or float("inf"),
                    policy_kwargs=dict(net_arch=dict(pi=list(cfg.policy_hidden), vf=list(cfg.value_hidden)),
                                       activation_fn=nn.Tanh, log_std_init=cfg.log_std_init), seed=1, device=device)
        steps = rollouts * cfg.n_envs * cfg.n_steps
        start = time.perf_counter()
        model.learn(steps)
        rate = steps / (time.perf_counter() - start)
        venv.close()
        return rate

    g, p = alternating_medians(rounds, with_gail, ppo_alone)
    return {"task": task, "env_steps": rollouts * cfg.n_envs * cfg.n_steps, "n_envs": cfg.n_envs,
            "gail_env_steps_per_s": g, "ppo_env_steps_per_s": p, "ratio": g / p}
