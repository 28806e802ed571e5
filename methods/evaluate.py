"""Evaluation protocol: deterministic policy, a fixed list of episode seeds, batched over envs.

Every episode is reset with its own seed from a list disjoint from the demonstration seeds, so
an episode's outcome does not depend on how many environments run side by side or in which
order they finish. The policy sees the observations of all running environments at once.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

import envs

# Demonstrations use seeds from DEMO_SEED_BASE up, evaluations from EVAL_SEED_BASE up (disjoint).
DEMO_SEED_BASE = 0
EVAL_SEED_BASE = 1_000_000

BatchPolicy = Callable[[np.ndarray], np.ndarray]


def eval_seeds(episodes: int, base: int = EVAL_SEED_BASE) -> list[int]:
    return [base + i for i in range(episodes)]


def run_episodes(policy: BatchPolicy, task_name: str, seeds: list[int], num_envs: int = 10,
                 env_kwargs: dict | None = None) -> list[dict]:
    """One row per episode (in seed order): episode, eval_seed, success, return, length."""
    task = envs.get_task(task_name)
    pool = [task.make(**(env_kwargs or {})) for _ in range(min(num_envs, len(seeds)))]
    results: dict[int, dict] = {}
    queue = list(enumerate(seeds))
    slots: list[dict | None] = []
    for env in pool:
        slots.append(_start(env, queue) if queue else None)
    try:
        while any(s is not None for s in slots):
            active = [i for i, s in enumerate(slots) if s is not None]
            obs = np.stack([slots[i]["obs"] for i in active]).astype(np.float32)
            actions = policy(obs)
            for row, i in enumerate(active):
                slot, env = slots[i], pool[i]
                obs_i, reward, terminated, truncated, info = env.step(actions[row])
                slot["obs"] = obs_i
                slot["return"] += float(reward)
                slot["length"] += 1
                slot["success"] = slot["success"] or bool(info.get("success", False))
                if terminated or truncated:
                    results[slot["episode"]] = {k: slot[k] for k in ("episode", "eval_seed", "return", "length")}
                    results[slot["episode"]]["success"] = int(slot["success"])
                    slots[i] = _start(env, queue) if queue else None
    finally:
        for env in pool:
            env.close()
    return [results[k] for k in sorted(results)]


def _start(env, queue: list) -> dict:
    episode, seed = queue.pop(0)
    obs, info = env.reset(seed=seed)
    return {"episode": episode, "eval_seed": seed, "obs": obs, "return": 0.0, "length": 0,
            "success": bool(info.get("success", False))}


def agent_policy(agent: torch.nn.Module, obs_norm, act_norm, low: np.ndarray, high: np.ndarray,
                 device: torch.device) -> BatchPolicy:
    """Wraps an Agent (z-scored in, z-scored out) as a batch policy on raw observations."""

    @torch.inference_mode()
    def policy(obs: np.ndarray) -> np.ndarray:
        x = obs_norm(torch.as_tensor(obs, device=device))
        action = act_norm.inverse(agent.act(x)).cpu().numpy()
        return np.clip(action, low, high)

    return policy
