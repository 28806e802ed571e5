"""RL experts: a tiny train_expert.py run, the weights-only loader's refusals, the shipped files."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dbc_bench.errors import BenchError
from envs import get_task
from envs.experts import make_expert, rl
from envs.experts.rl import FORMAT, RLExpert, load_rl_expert
from workflow.scripts import train_expert

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "envs" / "experts"

TINY = {
    "walker": {"task": "walker", "env_steps": 1024, "n_envs": 2,
               "policy": {"hidden": [16, 16], "log_std_init": -1.0},
               "ppo": {"n_steps": 256, "batch_size": 128, "n_epochs": 1},
               "learning_rate": {"initial": 3.0e-4, "schedule": "linear"},
               "normalize": {"obs": True, "reward": True},
               "eval": {"every_steps": 512, "episodes": 1}, "final_eval_episodes": 5},
    "hand_rotate": {"task": "hand_rotate", "env_steps": 256, "n_envs": 2,
                    "policy": {"hidden": [16, 16]},
                    "ppo": {"n_steps": 128, "batch_size": 128, "n_epochs": 1, "gamma": 0.98},
                    "reward_shaping": {"type": "rotation_distance", "success_bonus": 5.0},
                    "eval": {"every_steps": 256, "episodes": 1}, "final_eval_episodes": 5},
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_tiny(task: str, tmp: Path, **changes) -> Path:
    config = tmp / f"{task}.yaml"
    config.write_text(yaml.safe_dump({**TINY[task], **changes}))
    out = tmp / "out"
    # In-process (the CLI's main) rather than a subprocess: importing torch, SB3 and mujoco again
    # would cost more than the training itself.
    argv = ["--task", task, "--config", str(config), "--out-dir", str(out),
            "--env-steps", str(TINY[task]["env_steps"]), "--eval-episodes", "2"]
    assert train_expert.main(argv) == 0
    return out


@pytest.fixture(scope="module")
def walker_run(tmp_path_factory):
    return train_tiny("walker", tmp_path_factory.mktemp("walker"))


def test_tiny_training_writes_expert_card_and_curve(walker_run, monkeypatch):
    weights, card = walker_run / "walker.pt", json.loads((walker_run / "walker.json").read_text())
    assert card["sha256"] == sha256(weights)
    assert card["task"] == "walker" and card["metric"] == "return" and card["episodes_measured"] == 2
    assert card["env_steps"] >= 1024 and card["train_wall_minutes"] >= 0 and card["seed"] == 0
    assert "--env-steps 1024" in card["command"] and card["config"]["n_envs"] == 2
    assert card["mujoco_version"] and card["algorithm"].startswith("PPO")
    curve = (walker_run / "walker_curve.csv").read_text().splitlines()
    assert curve[0].startswith("env_steps,") and len(curve) >= 3
    assert not list(walker_run.glob(".*candidate*"))
    # Plain tensors and primitives only: loadable weights-only, and through make_expert.
    blob = torch.load(weights, weights_only=True)
    assert blob["format"] == FORMAT and blob["obs_mean"].shape == (17,)
    monkeypatch.setattr(rl, "_experts_dir", walker_run)
    env = get_task("walker").make()
    obs, _ = env.reset(seed=0)
    # Walker's demonstrations sample the policy's actions: the same generator seed gives the same draws.
    draws = []
    for _ in range(2):
        expert = make_expert("walker", env, np.random.default_rng(0))
        expert.reset(obs)
        draws.append(expert.act(obs))
    assert draws[0].dtype == np.float32 and draws[0].shape == (6,)
    np.testing.assert_array_equal(draws[0], draws[1])
    mean = load_rl_expert("walker", env).act(obs)  # the mean action, clipped to the box
    assert env.action_space.contains(mean) and not np.array_equal(mean, draws[0])


@pytest.mark.parametrize("statistic", ["mean", "min"])
def test_stop_score_ends_training_at_the_first_evaluation_that_reaches_it(tmp_path, statistic):
    """A recipe may stop at the authors' expert level (cheetah): here at the first of two evaluations."""
    out = train_tiny("walker", tmp_path, stop_score=-1e9, stop_statistic=statistic)
    card = json.loads((out / "walker.json").read_text())
    assert card["stop_reason"] == f"selection {statistic} reached stop_score -1e+09"
    assert card["env_steps"] == card["best_checkpoint_env_steps"] == 512 and card["config"]["stop_score"] == -1e9


def test_tiny_hand_training_uses_shaped_reward(tmp_path):
    out = train_tiny("hand_rotate", tmp_path)
    card = json.loads((out / "hand_rotate.json").read_text())
    assert card["metric"] == "success" and 0.0 <= card["score"] <= 1.0
    assert card["sha256"] == sha256(out / "hand_rotate.pt")
    header, first = (line.split(",") for line in (out / "hand_rotate_curve.csv").read_text().splitlines()[:2])
    train_return = float(first[header.index("train_episode_return")])
    assert train_return < 0 and train_return != round(train_return)  # the sparse -1/0 reward sums to an integer
    expert = load_rl_expert("hand_rotate", get_task("hand_rotate").make(), out / "hand_rotate.pt")
    assert expert.act(np.zeros(68, dtype=np.float32)).shape == (20,)


def test_closest_rule_keeps_the_export_nearest_its_aim(tmp_path, capsys):
    """An expert chosen by its data's statistics (cheetah): the evaluation nearest `aim` is kept, and a floor
    that no evaluation meets is one line naming the recipe, with the curve written."""
    out = train_tiny("walker", tmp_path, eval={"every_steps": 512, "episodes": 1, "rule": "closest", "aim": -1e9})
    card = json.loads((out / "walker.json").read_text())
    rows = [line.split(",") for line in (out / "walker_curve.csv").read_text().splitlines()]
    scores = {int(r[0]): float(r[rows[0].index("eval_score")]) for r in rows[1:]}
    assert len(scores) == 2 and card["selection_rule"] == "closest"
    assert card["best_checkpoint_env_steps"] == min(scores, key=scores.get)
    config = tmp_path / "floor.yaml"
    config.write_text(yaml.safe_dump({**TINY["walker"], "eval": {"every_steps": 512, "episodes": 1,
                                                                  "rule": "closest", "aim": 0.0, "floor": 1e9}}))
    argv = ["--task", "walker", "--config", str(config), "--out-dir", str(tmp_path / "floor"), "--env-steps", "1024"]
    assert train_expert.main(argv) != 0
    assert f"{config}: no evaluation met eval.floor 1e+09 in 1024 env steps" in capsys.readouterr().err
    assert (tmp_path / "floor" / "walker_curve.csv").is_file() and not (tmp_path / "floor" / "walker.pt").exists()


def test_demonstration_seeds_score_the_episodes_the_data_stage_records(walker_run, tmp_path, monkeypatch):
    """eval.seeds demonstrations: an export is scored on exactly the episodes it would ship."""
    from envs.demos import collect
    from envs.experts.training import demonstration_scores

    scores = demonstration_scores(walker_run / "walker.pt", get_task("walker"), 2)
    monkeypatch.setattr(rl, "_experts_dir", walker_run)
    summary = collect("walker", tmp_path / "data", tmp_path / "summary.json", episodes=2, transitions=None,
                      expert_seed=0, random_episodes=1)
    stats = summary["statistics"]
    assert sorted(scores) == [stats["return_min"], stats["return_max"]]


def test_held_noise_stays_at_its_initial_std(tmp_path):
    out = train_tiny("walker", tmp_path, policy={"hidden": [16, 16], "log_std_init": -0.8,
                                                 "log_std_trainable": False})
    blob = torch.load(out / "walker.pt", weights_only=True)
    assert torch.equal(blob["log_std"], torch.full((6,), -0.8))
    assert json.loads((out / "walker.json").read_text())["train_cpu_minutes"] > 0


def test_success_bonus_adds_to_the_envs_own_reward():
    from envs.experts.learners import make_env_fn

    task = get_task("ant_reach")
    plain, shaped = task.make(), make_env_fn(task, {"type": "success_bonus", "success_bonus": 2.5})()
    action = np.full(8, 0.1, dtype=np.float32)
    for env in (plain, shaped):
        env.reset(seed=7)
    (_, r_plain, *_), (_, r_shaped, *_) = plain.step(action), shaped.step(action)
    assert r_shaped == r_plain  # far from the goal: no bonus
    for env in (plain, shaped):
        env.unwrapped.goal = env.unwrapped.torso_xy()  # the goal under the ant: success
    (_, r_plain, *_, info), (_, r_shaped, *_) = plain.step(action), shaped.step(action)
    assert info["success"] and r_shaped == pytest.approx(r_plain + 2.5)


def test_tiny_ddpg_her_expert_acts_as_its_trained_actor(tmp_path):
    """DDPG + HER on hand_rotate (the authors' expert algorithm): the exported weights-only actor gives
    the trained actor's actions on the suite's flat observations."""
    from dbc_bench.io import save_torch_atomic
    from envs.experts.learners import build_ddpg_her, export_blob
    from envs.experts.training import load_config

    recipe = yaml.safe_load((ROOT / "config" / "experts" / "hand_rotate_ddpg_her.yaml").read_text())
    recipe.update(env_steps=150, policy={"hidden": [16, 16], "activation": "relu"},
                  ddpg={**recipe["ddpg"], "learning_starts": 100, "batch_size": 16, "gradient_steps": 2,
                        "buffer_size": 1000}, eval={"every_steps": 100, "episodes": 1}, final_eval_episodes=2)
    config = tmp_path / "hand_rotate.yaml"
    config.write_text(yaml.safe_dump(recipe))
    cfg = load_config(config)
    task = get_task("hand_rotate")
    model, vec, vec_norm = build_ddpg_her(cfg, task, 0)
    model.learn(150)
    path = tmp_path / "hand_rotate.pt"
    save_torch_atomic(export_blob(model, vec_norm, task, cfg), path)
    expert = load_rl_expert("hand_rotate", task.make(), path)
    assert expert.description.startswith("DDPG+HER expert for hand_rotate")
    env = task.make()
    flat, _ = env.reset(seed=3)
    obs = {"observation": flat[None, :61], "desired_goal": flat[None, 61:],
           "achieved_goal": np.zeros((1, 7), dtype=np.float32)}
    with torch.no_grad():
        trained = model.policy.actor(model.policy.obs_to_tensor(vec_norm.normalize_obs(obs))[0]).numpy()[0]
    np.testing.assert_allclose(expert.act(flat), trained, rtol=1e-5, atol=1e-6)
    assert np.abs(trained).max() <= 1.0
    vec.close()


def test_tiny_ddpg_her_training_writes_its_card(tmp_path):
    recipe = yaml.safe_load((ROOT / "config" / "experts" / "hand_rotate_ddpg_her.yaml").read_text())
    recipe.update(policy={"hidden": [16, 16], "activation": "relu"},
                  ddpg={**recipe["ddpg"], "learning_starts": 100, "batch_size": 16, "gradient_steps": 2,
                        "buffer_size": 1000}, eval={"every_steps": 100, "episodes": 1})
    config = tmp_path / "hand_rotate.yaml"
    config.write_text(yaml.safe_dump(recipe))
    argv = ["--task", "hand_rotate", "--config", str(config), "--out-dir", str(tmp_path / "out"),
            "--env-steps", "150", "--eval-episodes", "2"]
    assert train_expert.main(argv) == 0
    card = json.loads((tmp_path / "out" / "hand_rotate.json").read_text())
    assert card["algorithm"] == "DDPG+HER (stable-baselines3)" and card["sha256"] == sha256(tmp_path / "out" /
                                                                                         "hand_rotate.pt")
    assert torch.load(tmp_path / "out" / "hand_rotate.pt", weights_only=True)["output"] == "tanh"


def test_loader_refuses_corrupt_file(walker_run, tmp_path):
    bad = tmp_path / "walker.pt"
    data = (walker_run / "walker.pt").read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(BenchError, match=f"{bad}: not a readable torch file"):
        load_rl_expert("walker", path=bad)
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(BenchError, match=str(bad)):
        load_rl_expert("walker", path=bad)


def test_loader_refuses_wrong_shapes(walker_run, tmp_path):
    blob = torch.load(walker_run / "walker.pt", weights_only=True)
    path = tmp_path / "walker.pt"
    wide = dict(blob, actor={**blob["actor"], "0.weight": torch.zeros(16, 20)})
    torch.save(wide, path)
    with pytest.raises(BenchError, match=r"walker.pt: '0.weight' has shape \(16, 20\), expected \(16, 17\)"):
        load_rl_expert("walker", path=path)
    torch.save(dict(blob, obs_mean=torch.zeros(68)), path)
    with pytest.raises(BenchError, match=r"walker.pt: 'obs_mean' has shape \(68,\), expected \(17,\)"):
        load_rl_expert("walker", path=path)
    with pytest.raises(BenchError, match="trained for task 'walker', not 'hand_rotate'"):
        load_rl_expert("hand_rotate", path=walker_run / "walker.pt")
    torch.save({"format": "something else"}, path)
    with pytest.raises(BenchError, match="not a DBC-Bench RL expert file"):
        load_rl_expert("walker", path=path)


def test_sampled_actions_need_the_policys_std(walker_run, tmp_path):
    blob = torch.load(walker_run / "walker.pt", weights_only=True)
    expert = RLExpert(walker_run / "walker.pt", "walker", rng=np.random.default_rng(0))
    obs = np.zeros(17, dtype=np.float32)
    mean = RLExpert(walker_run / "walker.pt", "walker").actor(torch.zeros(17)).detach().numpy()
    draws = np.stack([expert.act(obs) for _ in range(2000)])
    # Unclipped draws around the actor's mean (the observation normalises to 0 only approximately).
    assert np.allclose(draws.std(0), blob["log_std"].exp().numpy(), rtol=0.1)
    assert draws.shape == (2000, 6) and np.isfinite(mean).all()
    path = tmp_path / "walker.pt"
    torch.save({k: v for k, v in blob.items() if k != "log_std"}, path)
    with pytest.raises(BenchError, match=r"walker.pt: sampled actions need field 'log_std' of shape \(6,\)"):
        RLExpert(path, "walker", rng=np.random.default_rng(0))
    RLExpert(path, "walker")  # mean actions do not need it


class _Payload:
    """Unpickling this would create a marker file: the loader must never get that far."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_loader_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "walker.pt"
    torch.save({"format": FORMAT, "task": "walker", "payload": _Payload(str(marker))}, path)
    with pytest.raises(BenchError, match=f"{path}.*weights-only"):
        RLExpert(path, "walker")
    assert not marker.exists()


@pytest.mark.parametrize("task", ["walker", "hand_rotate", "cheetah", "ant_reach"])
def test_shipped_expert_card_matches_file(task):
    weights, card_path = SHIPPED / f"{task}.pt", SHIPPED / f"{task}.json"
    if not (weights.exists() and card_path.exists()):
        pytest.skip(f"no shipped {task} expert")
    card = json.loads(card_path.read_text())
    assert card["sha256"] == sha256(weights) and card["task"] == task
    assert weights.stat().st_size < 5 * 2**20
    assert card["episodes_measured"] == {"walker": 20, "hand_rotate": 200, "cheetah": 20, "ant_reach": 200}[task]
    assert (SHIPPED / card["curve_file"]).exists()
    expert = load_rl_expert(task, get_task(task).make(), weights)
    assert expert.act(np.zeros(get_task(task).obs_dim, dtype=np.float32)).shape == (get_task(task).act_dim,)


@pytest.mark.parametrize("edit, message", [
    ({"ppo": {"gama": 0.9}}, "unknown field\\(s\\) ppo.gama; choose from batch_size"),
    ({"ppo": {"gamma": 1.5}}, "field 'ppo.gamma' must be a number <= 1, got 1.5"),
    ({"learning_rate": {"schedule": "cosine"}}, "field 'learning_rate.schedule' must be one of constant, linear"),
    ({"reward_shaping": {"type": "other"}}, "field 'reward_shaping.type' must be one of rotation_distance"),
    ({"env_steps": None}, "field 'env_steps' must be an integer"),
    ({"eval": {"rule": "closest"}}, "field 'eval.aim' is required by eval.rule 'closest'"),
    ({"eval": {"floor": 1.0}}, "fields 'eval.aim' and 'eval.floor' belong to eval.rule 'closest'"),
    ({"ddpg": {"gamma": 0.9}}, "field 'ddpg' does not apply to algorithm 'ppo'"),
    ({"algorithm": "ddpg_her"}, "field 'ppo' does not apply to algorithm 'ddpg_her'"),
    ({"algorithm": "ddpg_her", "ppo": None}, "algorithm 'ddpg_her' relabels the env's own sparse reward"),
    ({"algorithm": "ddpg_her", "ppo": None, "normalize": {"reward": False}}, "algorithm 'ddpg_her' needs a goal task"),
])
def test_expert_config_errors_name_the_field(tmp_path, edit, message):
    from envs.experts.training import load_config

    config = yaml.safe_load((ROOT / "config" / "experts" / "walker.yaml").read_text())
    for key, value in edit.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and config.get(key) else value
    path = tmp_path / "walker.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(BenchError, match=f"{path}: {message}"):
        load_config(path)
