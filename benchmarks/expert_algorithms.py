"""Which RL algorithm trains a task's expert fastest here: return per CPU minute, PPO against SAC.

Each algorithm trains on the task (stable-baselines3, one torch thread) until it has used
``--cpu-minutes`` of its own process CPU time, and every ``--every`` CPU minutes its policy plays
``--episodes`` episodes with actions sampled as its policy samples them (PPO: a Gaussian, unclipped,
as the authors' demonstrations were recorded; SAC: a tanh-squashed Gaussian). Evaluation time is
not charged to the algorithm. Prints one JSON line per evaluation and writes them as CSV.

    python -m benchmarks.expert_algorithms --task cheetah --algorithm ppo --cpu-minutes 20 --out ppo.csv

Run the algorithms one after the other, or side by side with one core each: CPU time, not wall
time, is the budget, so a busy machine slows a run down without changing its curve much.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import envs
from dbc_bench import seeds
from dbc_bench.errors import BenchError, run_stage
from dbc_bench.io import write_csv_atomic

FIELDS = ["algorithm", "cpu_minutes", "wall_minutes", "env_steps", "return_mean", "return_std", "episodes"]


def build(algorithm: str, task, seed: int):
    """The learner and its (possibly normalised) training env: PPO as config/experts/walker.yaml
    trains (8 envs, 4096 transitions per update, normalised observations and returns), SAC with
    stable-baselines3's defaults (one env, 10k random steps first, batch 256, 256 x 256 nets)."""
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    if algorithm == "ppo":
        vec = DummyVecEnv([lambda: Monitor(task.make()) for _ in range(8)])
        vec.seed(seed)
        vec = VecNormalize(vec, norm_obs=True, norm_reward=True, clip_obs=10.0, gamma=0.99)
        model = PPO("MlpPolicy", vec, n_steps=512, batch_size=256, n_epochs=10, learning_rate=3e-4, seed=seed,
                    device="cpu", verbose=0,
                    policy_kwargs={"net_arch": {"pi": [256, 256], "vf": [256, 256]}, "activation_fn": torch.nn.Tanh,
                                   "log_std_init": -1.0})
        return model, vec
    if algorithm == "sac":
        vec = DummyVecEnv([lambda: Monitor(task.make())])
        vec.seed(seed)
        model = SAC("MlpPolicy", vec, learning_starts=10_000, seed=seed, device="cpu", verbose=0)
        return model, None
    raise BenchError(f"--algorithm '{algorithm}': choose from ppo, sac")


def sampled_returns(model, norm, task, episodes: int) -> np.ndarray:
    """Returns of `episodes` episodes on the expert-measurement seeds, actions sampled by the policy."""
    env = task.make()
    returns = []
    for seed in seeds.episode_seeds(seeds.EXPERT_SELECT, episodes):
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            model_obs = norm.normalize_obs(obs) if norm is not None else obs
            if norm is not None:  # PPO: the Gaussian's sample, unclipped (the env clips)
                with torch.no_grad():
                    dist = model.policy.get_distribution(torch.as_tensor(model_obs[None], dtype=torch.float32))
                    action = dist.sample()[0].numpy()
            else:
                action, _ = model.predict(model_obs, deterministic=False)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return np.asarray(returns)


def run(args) -> int:
    torch.set_num_threads(1)
    task = envs.get_task(args.task)
    if task.metric != "return":
        raise BenchError(f"--task '{task.name}': this benchmark compares returns; choose a return task")
    model, norm = build(args.algorithm, task, args.seed)
    rows: list[dict] = []
    spent = {"cpu": 0.0, "wall": 0.0}
    chunk = 2048 if args.algorithm == "sac" else 4096 * 2
    while spent["cpu"] < 60 * args.cpu_minutes:
        target = spent["cpu"] + 60 * args.every
        while spent["cpu"] < min(target, 60 * args.cpu_minutes):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            model.learn(total_timesteps=chunk, reset_num_timesteps=False)
            spent["cpu"] += time.process_time() - cpu0
            spent["wall"] += time.perf_counter() - wall0
        if norm is not None:
            norm.training = False
        returns = sampled_returns(model, norm, task, args.episodes)
        if norm is not None:
            norm.training = True
        rows.append({"algorithm": args.algorithm, "cpu_minutes": round(spent["cpu"] / 60, 2),
                     "wall_minutes": round(spent["wall"] / 60, 2), "env_steps": int(model.num_timesteps),
                     "return_mean": round(float(returns.mean()), 1), "return_std": round(float(returns.std()), 1),
                     "episodes": args.episodes})
        print(json.dumps(rows[-1]), flush=True)
        if args.out is not None:
            write_csv_atomic(args.out, rows, FIELDS)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="cheetah")
    p.add_argument("--algorithm", required=True, choices=("ppo", "sac"))
    p.add_argument("--cpu-minutes", type=float, default=20.0, help="training budget in process CPU minutes")
    p.add_argument("--every", type=float, default=2.0, help="CPU minutes between evaluations")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path)
    return run_stage(lambda: run(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
