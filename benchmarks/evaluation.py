"""The suite's evaluation loop against the raw environment step rate.

Three rates, alternating: one env stepped with random actions (the raw rate); the evaluation loop
(envs.evaluation.Evaluator; 10 envs on the CPU, every episode at once on a GPU) with a policy; and the
same loop replaying that policy's recorded actions. The replay steps the same trajectories, hence the
same physics cost (contacts make some states dearer to simulate), with no policy to run, so loop /
replay is the loop's and the policy's own cost, which loop / raw alone would confound with the states visited.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

import envs
from benchmarks.timing import alternating_medians
from benchmarks.trainers import Setup, build_agent, random_demos
from dbc_bench.seeds import eval_seeds
from envs.evaluation import Evaluation, Evaluator
from methods.core import Normalizer, agent_policy


def raw_env_rate(task: str, steps: int) -> float:
    env = envs.TASKS[task].make()
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def eval_row(su: Setup, episodes: int, raw_steps: int, rounds: int, workdir: Path,
             device: torch.device = torch.device("cpu")) -> dict:
    """Env steps/s of the evaluation loop with `su`'s (untrained) policy on `device`, of its replay, and raw;
    the loop steps as many envs together as the pipeline does on that device (Evaluation.envs_on)."""
    torch.manual_seed(0)  # the same policy, hence the same trajectories, on every run
    agent = build_agent(su, random_demos(su.obs_dim, su.act_dim, 100), workdir).to(device).eval()
    space = envs.TASKS[su.task].make().action_space
    empty = lambda dim: Normalizer.empty(dim).to(device)  # noqa: E731
    policy = agent_policy(agent, empty(su.obs_dim), empty(su.act_dim), space.low, space.high, device)
    num_envs = Evaluation(episodes=episodes).envs_on(device)
    evaluator = Evaluator(su.task, num_envs)  # built once, outside the timed loop, as in training
    seeds = eval_seeds(episodes)  # the episodes the pipeline evaluates on
    recorded: list[np.ndarray] = []

    def recording(obs: np.ndarray) -> np.ndarray:
        recorded.append(policy(obs))
        return recorded[-1]

    evaluator.run(recording, seeds)

    def loop_rate(act) -> float:
        start = time.perf_counter()
        rows = evaluator.run(act, seeds)
        return sum(r["length"] for r in rows) / (time.perf_counter() - start)

    def replay_rate() -> float:
        batches = iter(recorded)
        return loop_rate(lambda obs: next(batches))

    try:
        raw, replay, loop = alternating_medians(rounds, lambda: raw_env_rate(su.task, raw_steps), replay_rate,
                                                lambda: loop_rate(policy))
    finally:
        evaluator.close()
    return {"task": su.task, "method": su.method, "envs": num_envs, "raw_env_steps_per_s": raw,
            "replay_steps_per_s": replay, "eval_env_steps_per_s": loop, "ratio": loop / raw,
            "ratio_to_replay": loop / replay}
