"""Scripted experts: success rates, valid actions, unsupported tasks."""

import numpy as np
import pytest

from envs import get_task
from envs.experts import make_expert, rl


def rollout_success_rate(name, n_episodes, seed=0, **env_kwargs):
    task = get_task(name)
    env = task.make(**env_kwargs)
    expert = make_expert(name, env, np.random.default_rng(seed))
    successes = []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=seed * 1000 + episode)
        expert.reset(obs)
        terminated = truncated = False
        while not (terminated or truncated):
            action = expert.act(obs)
            assert action.dtype == np.float32 and action.shape == (task.act_dim,)
            assert env.action_space.contains(action)
            obs, _, terminated, truncated, info = env.step(action)
        successes.append(info["success"])
    return float(np.mean(successes))


def test_maze_expert_success():
    assert rollout_success_rate("maze", 20) >= 0.8


def test_fetch_expert_success():
    assert rollout_success_rate("fetch_pick", 20, noise_ratio=1.0) >= 0.9


@pytest.mark.parametrize("name", ["maze", "fetch_pick"])
def test_description_is_one_line(name):
    expert = make_expert(name, get_task(name).make(), np.random.default_rng(0))
    assert isinstance(expert.description, str) and expert.description
    assert "\n" not in expert.description


def test_maze_expert_noise_comes_from_rng():
    env = get_task("maze").make()
    obs, _ = env.reset(seed=0)
    actions = []
    for seed in (1, 1, 2):
        expert = make_expert("maze", env, np.random.default_rng(seed))
        expert.reset(obs)
        actions.append(expert.act(obs))
    np.testing.assert_array_equal(actions[0], actions[1])
    assert not np.array_equal(actions[0], actions[2])


@pytest.mark.parametrize("name", ["walker", "hand_rotate"])
def test_rl_expert_missing_file_is_named(name, tmp_path, monkeypatch):
    from dbc_bench.errors import BenchError

    monkeypatch.setattr(rl, "_experts_dir", tmp_path)
    with pytest.raises(BenchError, match=f"{name}.pt: no RL expert file"):
        make_expert(name, get_task(name).make(), np.random.default_rng(0))


def test_unknown_task_expert():
    from dbc_bench.errors import BenchError

    with pytest.raises(BenchError, match="unknown task 'nope'; choose from maze"):
        make_expert("nope", None, np.random.default_rng(0))
