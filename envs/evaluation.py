"""Evaluation protocol: deterministic policy, a fixed list of episode seeds, batched over envs.

Every episode is reset with its own seed from a list disjoint from the demonstration seeds, so
an episode's outcome does not depend on how many environments run side by side or in which
order they finish. The policy sees the observations of all running environments at once.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

import envs
from dbc_bench.fields import option, validate

BatchPolicy = Callable[[np.ndarray], np.ndarray]
EPISODE_COLUMNS = ["episode", "eval_seed", "success", "return", "length"]  # one row per episode


@dataclass
class Evaluation:
    """The evaluation protocol of a run: episodes per evaluation, envs stepped together, how many
    evaluations during training, and the evaluation env's kwargs. Its defaults are the protocol's, in
    this one place (a budget's `evaluation:` section sets its own; the scripts' options default to these)."""

    episodes: int = option(100, "episodes per evaluation", gt=0)
    num_envs: int = option(10, "environments stepped together", gt=0)
    points: int = option(5, "evaluations during training; the last is the final", gt=0)
    env_kwargs: dict = dataclasses.field(default_factory=dict)  # checked by the task (Task.check_kwargs)

    def __post_init__(self):
        validate(self, "evaluation")

    def envs_on(self, device: torch.device) -> int:
        """Environments stepped together on `device`. On the CPU `num_envs` (the batching the committed runs
        were evaluated with; a policy call costs about as much per state at any batch there). On a GPU every
        episode at once: one policy call per step for all of them, where a call's cost is mostly launch
        overhead (Diffusion Policy: 1000 denoising steps per call)."""
        return min(self.num_envs if device.type == "cpu" else self.episodes, self.episodes)


class Evaluator:
    """A pool of `num_envs` environments, built once and reused by every evaluation of a run; or, with
    `pool`, these environments (a recording wrapper's: the videos run the same episode loop)."""

    def __init__(self, task_name: str, num_envs: int = Evaluation.num_envs, env_kwargs: dict | None = None,
                 pool: list | None = None):
        if pool is None:
            task = envs.get_task(task_name)
            pool = [task.make(**(env_kwargs or {})) for _ in range(num_envs)]
        self.pool = pool

    def run(self, policy: BatchPolicy, seeds: list[int]) -> list[dict]:
        """One row per episode (in seed order): episode, eval_seed, success, return, length."""
        results: dict[int, dict] = {}
        queue = list(enumerate(seeds))
        slots = [_start(env, queue) if queue else None for env in self.pool]
        while any(s is not None for s in slots):
            active = [i for i, s in enumerate(slots) if s is not None]
            actions = policy(np.stack([slots[i]["obs"] for i in active]).astype(np.float32))
            for row, i in enumerate(active):
                slot, env = slots[i], self.pool[i]
                obs, reward, terminated, truncated, info = env.step(actions[row])
                slot["obs"] = obs
                slot["return"] += float(reward)
                slot["length"] += 1
                slot["success"] = slot["success"] or bool(info.get("success", False))
                if terminated or truncated:
                    results[slot["episode"]] = {k: slot[k] for k in ("episode", "eval_seed", "return", "length")}
                    results[slot["episode"]]["success"] = int(slot["success"])
                    slots[i] = _start(env, queue) if queue else None
        return [results[k] for k in sorted(results)]

    def close(self) -> None:
        for env in self.pool:
            env.close()


def run_episodes(policy: BatchPolicy, task_name: str, seeds: list[int], num_envs: int = Evaluation.num_envs,
                 env_kwargs: dict | None = None) -> list[dict]:
    """One evaluation with a pool of its own (see Evaluator)."""
    evaluator = Evaluator(task_name, min(num_envs, len(seeds)), env_kwargs)
    try:
        return evaluator.run(policy, seeds)
    finally:
        evaluator.close()


def _start(env, queue: list) -> dict:
    episode, seed = queue.pop(0)
    obs, info = env.reset(seed=seed)
    return {"episode": episode, "eval_seed": seed, "obs": obs, "return": 0.0, "length": 0,
            "success": bool(info.get("success", False))}


def latency_per_call(act: Callable[[], object], repeats: int = 5, warmup: int = 1, min_seconds: float = 0.0,
                     sync: Callable[[], None] = lambda: None) -> float:
    """Median wall seconds of one call of `act` (e.g. a policy on a batch of states: each of the
    batch's environments waits this long for its action). Runs at least `repeats` timed calls,
    more until `min_seconds` have passed; `sync` waits for asynchronous devices (CUDA)."""
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            act()
        sync()
        while len(times) < repeats or sum(times) < min_seconds:
            start = time.perf_counter()
            act()
            sync()
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
