"""GAIL: discriminator, reward wrapper, a tiny end-to-end run with resume, config validation."""
import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

import envs
from dbc_bench import seeds
from dbc_bench.errors import BenchError
from dbc_bench.fields import docs, from_values
from dbc_bench.io import read_yaml
from envs.experts import make_expert
from methods import gail
from methods.core import Demonstrations, Normalizer
from methods.train import run_training

CONFIG = Path(__file__).resolve().parents[1] / "config"


def demos_from(obs: torch.Tensor, act: torch.Tensor, n_episodes=1, source="toy") -> Demonstrations:
    on, an = Normalizer.fit(obs), Normalizer.fit(act)
    return Demonstrations(on(obs), an(act), on, an, n_episodes=n_episodes, source=source)


def maze_demos(episodes=3) -> Demonstrations:
    env = envs.get_task("maze").make()
    expert = make_expert("maze", env, np.random.default_rng(0))
    obs_list, act_list = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        expert.reset(obs)
        done = False
        while not done:
            action = expert.act(obs)
            obs_list.append(obs)
            act_list.append(action)
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    env.close()
    return demos_from(torch.as_tensor(np.array(obs_list)), torch.as_tensor(np.array(act_list)),
                      n_episodes=episodes, source="maze-expert")


def test_discriminator_separates_expert_from_random_pairs():
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(2000, 4, generator=g)
    data = demos_from(obs, torch.tanh(2 * obs[:, :2]))  # expert: a deterministic function of s
    disc = gail.Discriminator(4, 2, [64, 64])
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)

    def random_pairs(n):
        return torch.randn(n, 4, generator=g), torch.randn(n, 2, generator=g)

    pol_obs, pol_act = random_pairs(2000)
    # No gradient penalty here: its unit-slope target caps how sharply a logit can separate
    # pairs that differ only in a = f(s) (measured: 0.64 / 0.55 accuracy after 300 updates).
    stats = gail.train_discriminator(disc, opt, data, pol_obs, pol_act, updates=300, batch_size=128,
                                     grad_penalty=0.0)
    assert set(stats) >= {"disc_loss", "disc_acc_expert", "disc_acc_policy", "disc_grad_penalty"}
    with torch.no_grad():
        test_obs, test_act = random_pairs(1000)
        acc_policy = (disc(test_obs, test_act) < 0).float().mean().item()
        exp_obs = torch.randn(1000, 4, generator=g)
        exp_z = data.obs_norm(exp_obs), data.act_norm(torch.tanh(2 * exp_obs[:, :2]))
        acc_expert = (disc(*exp_z) > 0).float().mean().item()
    assert acc_expert > 0.8 and acc_policy > 0.8, (acc_expert, acc_policy)


def test_reward_forms_signs_and_clip():
    disc = gail.Discriminator(3, 2, [16])
    obs, act = torch.randn(64, 3) * 5, torch.randn(64, 2) * 5
    r = {form: disc.reward(obs, act, form, clip=100.0) for form in gail.REWARD_FORMS}
    assert (r["gail"] >= 0).all() and (r["logd"] <= 0).all()
    assert torch.allclose(r["logit"], r["gail"] + r["logd"], atol=1e-5)  # log D/(1-D) = -log(1-D) + log D
    assert disc.reward(obs * 100, act * 100, "logit", clip=0.5).abs().max() <= 0.5


class CountingEnv(gym.Env):
    """obs = [step count, 1]; true reward 7; episodes of 3 steps."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0, 1.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t, 1.0], np.float32), 7.0, self.t >= 3, False, {"success": self.t >= 3}


def test_reward_wrapper_replaces_rewards_with_the_discriminators():
    torch.manual_seed(0)
    data = demos_from(torch.randn(100, 2), torch.rand(100, 1) * 2 - 1)
    disc = gail.Discriminator(2, 1, [16])
    reward_fn = gail.discriminator_reward_fn(disc, data, "logit", clip=10.0)
    env = gail.DiscriminatorReward(DummyVecEnv([CountingEnv, CountingEnv]), reward_fn)
    obs = env.reset()
    rng = np.random.default_rng(0)
    for step in range(5):  # crosses an auto-reset: the pair must use the obs the action was taken in
        actions = rng.uniform(-1, 1, (2, 1)).astype(np.float32)
        new_obs, rew, dones, infos = env.step(actions)
        with torch.no_grad():
            expected = disc.reward(data.obs_norm(torch.as_tensor(obs)), data.act_norm(torch.as_tensor(actions)),
                                   "logit", 10.0).numpy()
        np.testing.assert_allclose(rew, expected, rtol=1e-6)
        assert not np.allclose(rew, 7.0)
        assert [info["true_reward"] for info in infos] == [7.0, 7.0]
        obs = new_obs
    pairs_obs, pairs_act = env.take_pairs()
    assert pairs_obs.shape == (10, 2) and pairs_act.shape == (10, 1)
    np.testing.assert_array_equal(pairs_obs[:, 0], [0, 0, 1, 1, 2, 2, 0, 0, 1, 1])
    assert env.take_episodes() == [(21.0, True), (21.0, True)]
    env.step(np.zeros((2, 1), np.float32))
    assert env.take_pairs()[0].shape == (2, 2)  # taking pairs cleared the earlier ones


def test_zscore_wrapper_normalises_terminal_observation_too():
    norm = Normalizer(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 1.0]))
    env = gail.ZScoreObs(DummyVecEnv([CountingEnv]), norm)
    np.testing.assert_allclose(env.reset(), [[-0.5, 0.0]])
    for _ in range(3):
        obs, _, dones, infos = env.step(np.zeros((1, 1), np.float32))
    assert dones[0]
    np.testing.assert_allclose(infos[0]["terminal_observation"], [1.0, 0.0])  # (3 - 1) / 2
    np.testing.assert_allclose(obs, [[-0.5, 0.0]])


TINY = dict(env_steps=4096, n_envs=4, n_steps=256, ppo_minibatch=256, ppo_epochs=2, policy_hidden=[32, 32],
            value_hidden=[32, 32], disc_hidden=[32, 32], reward_form="logd", bc_warm_start_epochs=2,
            ppo_lr_decay="linear")

TIMING = ("env_steps_per_s",)


def without_timing(rows):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def assert_rows_equal(a, b):
    """Same keys and values, NaN equal to NaN."""
    assert [list(r) for r in a] == [list(r) for r in b]
    for ra, rb in zip(a, b):
        for k in ra:
            assert ra[k] == rb[k] or (ra[k] != ra[k] and rb[k] != rb[k]), (k, ra, rb)


def test_gail_trainer_end_to_end_on_maze_and_resume(tmp_path):
    data = maze_demos()
    cfg = from_values(gail.Config, TINY, "tiny")
    calls = []

    def evaluate(agent):
        calls.append(agent)
        with torch.no_grad():
            action_z = agent.act(data.obs[:7])
        assert action_z.shape == (7, 2) and torch.isfinite(action_z).all()
        # a score that depends on every bit of the policy's output
        return [{"episode": 0, "eval_seed": 0, "success": 0, "return": float(action_z.double().sum()), "length": 1}]

    def run(state_path, evaluate, log=lambda *a: None, checkpoint_seconds=120.0):
        trainer = gail.GAILTrainer(cfg, "maze", data, seed=1, device="cpu", log=log)
        result = run_training(trainer, evaluate=evaluate, eval_points=2, state_path=state_path,
                              checkpoint_seconds=checkpoint_seconds, log=log)
        return trainer.agent, result

    state = tmp_path / "state.pt"
    agent, result = run(state, evaluate)
    assert len(calls) == 2 and [r["update"] for r in result.curve] == [2048, 4096]
    assert result.updates == 4096 and result.updates_per_second > 0
    assert [r["env_steps"] for r in result.log] == [1024, 2048, 3072, 4096]
    # linear decay over the whole run: lr x (1 - steps / total) at each PPO update (a log row,
    # written as its rollout ends, shows the rate the previous update used)
    assert [r["lr"] for r in result.log] == pytest.approx([cfg.ppo_lr * (1 - k / 4) for k in (0, 1, 2, 3)])
    assert np.isnan(result.log[0]["ppo_approx_kl"]) and np.isfinite(result.log[1]["ppo_approx_kl"])
    for key in ("env_steps_per_s", "disc_loss", "disc_acc_expert", "disc_acc_policy", "true_return"):
        assert key in result.log[-1]
    # The agent acts on z-scored inputs with the clipped actor mean, deterministically.
    with torch.no_grad():
        z = agent.act(data.obs[:5])
        raw = data.act_norm.inverse(z)
        assert torch.allclose(raw, agent.raw_action(data.obs[:5]), atol=1e-5)
        assert (raw.abs() <= 1 + 1e-5).all() and torch.equal(z, agent.act(data.obs[:5]))

    # A saved agent loads into `build`'s skeleton (as evaluate_policy.py reloads a run) and acts the same.
    from dbc_bench.io import load_state_checked

    skeleton = gail.build(cfg, 6, 2, {})
    load_state_checked(skeleton, agent.state_dict(), "model.pt")
    with torch.no_grad():
        assert torch.equal(skeleton.eval().act(data.obs[:5]), agent.act(data.obs[:5]))

    # Killed during the second evaluation: the rerun resumes from the first, evaluates once and
    # ends exactly where the uninterrupted run did, log included (timing aside).
    uninterrupted = {k: v.clone() for k, v in agent.state_dict().items()}
    state.unlink()
    calls.clear()

    def dies_at_second(agent):
        if len(calls) == 1:
            raise KeyboardInterrupt
        return evaluate(agent)

    with pytest.raises(KeyboardInterrupt):
        run(state, dies_at_second)
    calls.clear()
    lines = []
    torch.manual_seed(123)  # the resumed run must not depend on the process's RNG state
    np.random.seed(123)
    resumed_agent, resumed = run(state, evaluate, log=lines.append)
    assert any("resuming" in line and "after 2/4 rollouts" in line for line in lines), lines
    assert len(calls) == 1 and resumed.curve == result.curve
    assert_rows_equal(without_timing(resumed.log), without_timing(result.log))
    for key, value in resumed_agent.state_dict().items():
        assert torch.equal(value, uninterrupted[key]), key


@pytest.mark.slow
def test_gail_resumes_from_a_boundary_inside_a_log_window(tmp_path):
    """A time-based checkpoint between log rows: the resumed run's rows still equal the
    uninterrupted run's (the open window of discriminator rounds and episodes is in the state)."""
    data = maze_demos(episodes=1)
    cfg = from_values(gail.Config, {**TINY, "env_steps": 4096, "n_envs": 2, "n_steps": 64, "ppo_minibatch": 128,
                                    "bc_warm_start_epochs": 0}, "tiny")
    assert cfg.rollouts == 32  # boundaries every 32 // 25 = 1 rollout; rows every 32 // 50 -> 1 ...

    def run(state_path, evaluate, log_every):
        trainer = gail.GAILTrainer(cfg, "maze", data, seed=2, device="cpu", log=lambda *a: None)
        return trainer.agent, run_training(trainer, evaluate=evaluate, eval_points=1, state_path=state_path,
                                           log_every=log_every, checkpoint_seconds=0.0, log=lambda *a: None)

    def score(agent):
        with torch.no_grad():
            return [{"return": float(agent.act(data.obs[:3]).double().sum())}]

    agent, reference = run(tmp_path / "a.pt", score, log_every=5)  # ... so rows every 5 rollouts here
    units = []

    class Killed(Exception):
        pass

    trainer = gail.GAILTrainer(cfg, "maze", data, seed=2, device="cpu", log=lambda *a: None)
    step = trainer.step

    def dies_after_seven(segment_start):
        if len(units) == 7:
            raise Killed  # after 7 rollouts: saved at boundary 7, two rollouts into a row's window
        units.append(segment_start)
        step(segment_start)

    trainer.step = dies_after_seven
    with pytest.raises(Killed):
        run_training(trainer, evaluate=score, eval_points=1, state_path=tmp_path / "b.pt", log_every=5,
                     checkpoint_seconds=0.0, log=lambda *a: None)
    resumed_agent, resumed = run(tmp_path / "b.pt", score, log_every=5)
    assert [r["env_steps"] for r in resumed.log] == [r["env_steps"] for r in reference.log]
    assert_rows_equal(without_timing(resumed.log), without_timing(reference.log))
    assert resumed.curve == reference.curve
    for key, value in resumed_agent.state_dict().items():
        assert torch.equal(value, agent.state_dict()[key]), key


def test_training_env_seeds_come_from_the_seed_registry(tmp_path, monkeypatch):
    data = maze_demos(episodes=1)
    cfg = from_values(gail.Config, {**TINY, "env_steps": 512, "n_envs": 2, "n_steps": 128, "ppo_minibatch": 128,
                                    "bc_warm_start_epochs": 0}, "tiny")
    trainer = gail.GAILTrainer(cfg, "maze", data, seed=3, device="cpu", log=lambda *a: None)
    seen = []
    monkeypatch.setattr(trainer.venv, "seed", seen.append)
    run_training(trainer, evaluate=lambda a: [], eval_points=1, state_path=tmp_path / "s.pt", log=lambda *a: None)
    # 2 rollouts: one segment each (every 2 // 25 -> 1 rollout), each reset from its step count
    assert seen == [seeds.gail_train_seed(3, 0), seeds.gail_train_seed(3, 256)]
    assert seen[0] == 3_002_000_000  # the seeds every run so far used: 2e6 + 1e9 * seed + steps


def test_bc_warm_start_fits_the_actor_mean():
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(512, 6, generator=g)
    data = demos_from(obs, 0.8 * torch.tanh(obs[:, :2]))
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", DummyVecEnv([envs.get_task("maze").make]), n_steps=64, batch_size=64,
                policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[8])), device="cpu", seed=0)
    mse = gail.bc_warm_start(model.policy, data, epochs=40, lr=3e-3, normalize_obs=True)
    assert mse < 0.01


@pytest.mark.parametrize("field,value", [("n_envs", 0), ("env_steps", -5), ("reward_form", "wasserstein"),
                                         ("disc_hidden", []), ("grad_penalty", -1.0), ("gamma", 1.5),
                                         ("normalize_obs", "yes"), ("ppo_minibatch", 4096), ("ppo_lr", 0),
                                         ("ppo_lr_decay", "cosine"), ("bc_warm_start_epochs", -1)])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(BenchError, match=f"gail.yaml: field '{field}'"):
        from_values(gail.Config, {**TINY, field: value}, "gail.yaml")


def test_config_has_no_offline_training_fields():
    """PPO's settings are named as PPO's: nothing reads like BC's epochs, batch size or lr."""
    names = {f.name for f in dataclasses.fields(gail.Config)}
    assert not names & {"epochs", "batch_size", "lr", "lr_decay", "grad_clip"}
    assert all(f.name in docs(gail.Config) for f in dataclasses.fields(gail.Config))


@pytest.mark.parametrize("task", ["maze", "fetch_pick", "hand_rotate", "walker"])
def test_task_configs_are_valid(task):
    values = read_yaml(CONFIG / "methods" / "gail" / f"{task}.yaml")
    from_values(gail.Config, values, task)
