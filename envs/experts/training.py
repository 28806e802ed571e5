"""Train an RL expert (hand_rotate, walker, cheetah, ant_reach) from scratch with stable-baselines3 PPO.

Every `eval.every_steps` env steps the current policy is exported (actor mean, log std and
observation statistics) and evaluated as the task's demonstrations use it (deterministic mean
actions, or sampled ones: the registry's `expert_actions`) through the same loader the data
pipeline uses (envs/experts/rl.py); the best export is kept, since PPO can degrade late in training. At the
end (env-step budget, `stop_score` reached, `max_wall_minutes`, or SIGTERM/SIGINT) the kept export is measured on
fresh seeds and described in a card. Writes into --out-dir:

- <task>.pt: weights-only expert (torch tensors and primitives, no pickled code);
- <task>.json: card (score, episodes measured, env steps, wall minutes, sha256, command, config);
- <task>_curve.csv: the learning curve (periodic evaluations and training-episode statistics).
"""
from __future__ import annotations

import dataclasses
import math
import os
import signal
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

import envs
from dbc_bench import seeds
from dbc_bench.errors import BenchError
from dbc_bench.fields import from_values, option
from dbc_bench.io import read_yaml, save_torch_atomic, sha256_file, write_csv_atomic, write_json_atomic
from envs.evaluation import run_episodes
from envs.experts.rl import ACTIVATIONS, FORMAT, RLExpert


@dataclass
class PolicyConfig:
    hidden: list[int] = option([256, 256], "actor hidden widths", item_gt=0)
    value_hidden: list[int] | None = option(None, "value-net widths (null: the actor's)", item_gt=0)
    activation: str = option("tanh", "hidden activation", choices=tuple(ACTIVATIONS))
    log_std_init: float = option(0.0, "initial log std of the Gaussian policy")
    ortho_init: bool = option(True, "orthogonal initialisation (SB3's default)")


@dataclass
class PPOConfig:
    """stable-baselines3 PPO's own arguments, passed through unchanged."""

    n_steps: int = option(2048, "steps per env per rollout", gt=0)
    batch_size: int = option(64, "minibatch size", gt=0)
    n_epochs: int = option(10, "passes over each rollout", gt=0)
    gamma: float = option(0.99, "discount", ge=0, le=1)
    gae_lambda: float = option(0.95, "GAE lambda", ge=0, le=1)
    clip_range: float = option(0.2, "PPO clip range", gt=0)
    ent_coef: float = option(0.0, "entropy bonus weight", ge=0)
    vf_coef: float = option(0.5, "value loss weight", ge=0)
    max_grad_norm: float = option(0.5, "gradient-norm clip", gt=0)
    target_kl: float | None = option(None, "early-stop KL per update (null: off)", gt=0)


@dataclass
class LearningRate:
    initial: float = option(3.0e-4, "Adam learning rate", gt=0)
    schedule: str = option("constant", "constant, or linear to 0 at env_steps", choices=("constant", "linear"))


@dataclass
class Normalize:
    obs: bool = option(True, "running observation normalisation (VecNormalize)")
    reward: bool = option(False, "running return normalisation")
    clip_obs: float = option(10.0, "clip of normalised observations", gt=0)


@dataclass
class RewardShaping:
    type: str = option("rotation_distance", "reward = -(rotation error, rad) + success_bonus on success",
                       choices=("rotation_distance",))
    success_bonus: float = option(0.0, "bonus on success", ge=0)


@dataclass
class Selection:
    every_steps: int = option(50_000, "env steps between exports evaluated to pick the best", gt=0)
    episodes: int = option(10, "episodes per such evaluation (actions as the demonstrations use them)", gt=0)


@dataclass
class ExpertConfig:
    """An RL expert's recipe (config/experts/<task>.yaml)."""

    task: str = option("", "the task it is trained for (one whose registry entry has an RL expert)")
    env_steps: int = option(1, "training budget in env steps", gt=0)
    n_envs: int = option(1, "environments stepped together", gt=0)
    algorithm: str = option("ppo", "the RL algorithm", choices=("ppo",))
    seed: int = option(0, "training seed", ge=0)
    max_wall_minutes: float | None = option(None, "stop training after this long, keeping the best export", gt=0)
    target: float | None = option(None, "score the card compares the measurement with")
    stop_score: float | None = option(None, "end training at the first periodic evaluation whose stop_statistic "
                                      "reaches this, keeping that export (an expert as strong as the "
                                      "authors', not stronger); null: the whole budget")
    stop_statistic: str = option("mean", "of that evaluation's episode scores: mean, or min (every episode)",
                                 choices=("mean", "min"))
    policy: PolicyConfig = option(PolicyConfig(), "actor and value networks")
    ppo: PPOConfig = option(PPOConfig(), "PPO's arguments")
    learning_rate: LearningRate = option(LearningRate(), "learning rate and its schedule")
    normalize: Normalize = option(Normalize(), "observation and reward normalisation")
    reward_shaping: RewardShaping | None = option(None, "null: the env's own reward")
    eval: Selection = option(Selection(), "periodic evaluation that selects the kept export")
    final_eval_episodes: int = option(20, "episodes of the final measurement, on fresh seeds", gt=0)


REQUIRED = ("task", "env_steps", "n_envs")


def load_config(path: Path) -> dict:
    """The expert recipe at `path`, every field checked, as a plain mapping (recorded in the card)."""
    raw = read_yaml(path)
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise BenchError(f"{path}: field '{missing[0]}' is missing")
    cfg = from_values(ExpertConfig, raw, str(path))
    if envs.get_task(cfg.task).expert != "rl":
        rl_tasks = [name for name, task in envs.TASKS.items() if task.expert == "rl"]
        raise BenchError(f"{path}: field 'task' must be a task with an RL expert ({', '.join(rl_tasks)}), "
                         f"got {cfg.task!r}")
    return dataclasses.asdict(cfg)


def make_env_fn(task, shaping: dict | None):
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor

    class RotationDistanceReward(gym.Wrapper):
        """Dense reward for hand_rotate: -(rotation error in rad) + bonus on success."""

        def __init__(self, env, success_bonus: float):
            super().__init__(env)
            self.success_bonus = float(success_bonus)

        def step(self, action):
            obs, _, terminated, truncated, info = self.env.step(action)
            reward = -self.env.unwrapped.rotation_error() + self.success_bonus * float(info["success"])
            return obs, reward, terminated, truncated, info

    def make():
        env = task.make()
        if shaping is not None:
            env = RotationDistanceReward(env, shaping.get("success_bonus", 0.0))
        keys = ("success",) if task.metric == "success" else ()
        return Monitor(env, info_keywords=keys)

    return make


def export_blob(model, vec_norm, task, cfg) -> dict:
    """The current policy as a weights-only dict (see envs/experts/rl.py for the layout)."""
    policy = model.policy
    hidden = list(cfg["policy"]["hidden"])
    state = {}
    linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, torch.nn.Linear)]
    linears.append(policy.action_net)
    for i, layer in enumerate(linears):
        # methods.core.mlp interleaves activations, so Linear layers sit at even indices.
        state[f"{2 * i}.weight"] = layer.weight.detach().cpu().clone()
        state[f"{2 * i}.bias"] = layer.bias.detach().cpu().clone()
    if vec_norm is not None and cfg["normalize"]["obs"]:
        mean = torch.as_tensor(vec_norm.obs_rms.mean, dtype=torch.float64)
        var = torch.as_tensor(vec_norm.obs_rms.var, dtype=torch.float64)
        clip, eps = float(vec_norm.clip_obs), float(vec_norm.epsilon)
    else:
        mean, var = torch.zeros(task.obs_dim, dtype=torch.float64), torch.ones(task.obs_dim, dtype=torch.float64)
        clip, eps = float("inf"), 0.0
    return {"format": FORMAT, "task": task.name, "hidden": hidden, "activation": cfg["policy"]["activation"],
            "actor": state, "obs_mean": mean, "obs_var": var, "obs_clip": clip, "obs_epsilon": eps,
            "log_std": policy.log_std.detach().cpu().clone()}


def evaluate(path: Path, task, episodes: int, seed_base: int, sampled: bool | None = None) -> np.ndarray:
    """Episodes of the expert at `path` on seeds seed_base.. (the suite's evaluation protocol), its
    actions as the task's demonstrations use them unless `sampled` says otherwise (sampled actions
    draw from a generator seeded with seed_base); returns the per-episode score (success or return)."""
    sampled = task.expert_actions == "sampled" if sampled is None else sampled
    expert = RLExpert(path, task.name, rng=np.random.default_rng(seed_base) if sampled else None)
    rows = run_episodes(lambda obs: np.stack([expert.act(o) for o in obs]), task.name,
                        seeds.episode_seeds(seed_base, episodes), num_envs=1)
    return np.asarray([float(r["success"]) if task.metric == "success" else r["return"] for r in rows])


CURVE_FIELDS = ["env_steps", "wall_minutes", "eval_score", "eval_std", "eval_episodes", "best_score",
                "train_episode_return", "train_success", "learning_rate"]


def train(args, command: str) -> int:
    """Train, select and measure an expert. `args` has task, config (path), out_dir, threads and
    the optional overrides env_steps, eval_episodes and max_minutes (None: the config's)."""
    torch.set_num_threads(max(1, args.threads))
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    cfg = load_config(args.config)
    task = envs.get_task(args.task)
    if cfg["task"] != task.name:
        raise BenchError(f"{args.config}: config is for task '{cfg['task']}', not '{task.name}'")
    env_steps = int(args.env_steps if args.env_steps is not None else cfg["env_steps"])
    final_episodes = int(args.eval_episodes if args.eval_episodes is not None else cfg["final_eval_episodes"])
    max_minutes = args.max_minutes if args.max_minutes is not None else cfg["max_wall_minutes"]
    seed = int(cfg["seed"])
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    weights, card_path, curve_path = out / f"{task.name}.pt", out / f"{task.name}.json", out / f"{task.name}_curve.csv"
    candidate = out / f".{task.name}.candidate.pt"

    vec = DummyVecEnv([make_env_fn(task, cfg["reward_shaping"]) for _ in range(int(cfg["n_envs"]))])
    vec.seed(seed)
    norm = cfg["normalize"]
    vec_norm = None
    if norm["obs"] or norm["reward"]:
        vec = vec_norm = VecNormalize(vec, norm_obs=bool(norm["obs"]), norm_reward=bool(norm["reward"]),
                                      clip_obs=float(norm["clip_obs"]), gamma=float(cfg["ppo"]["gamma"]))
    lr0 = float(cfg["learning_rate"]["initial"])
    lr = (lambda progress_remaining: lr0 * progress_remaining) if cfg["learning_rate"]["schedule"] == "linear" else lr0
    pol = cfg["policy"]
    policy_kwargs = {"net_arch": {"pi": list(pol["hidden"]), "vf": list(pol["value_hidden"] or pol["hidden"])},
                     "activation_fn": ACTIVATIONS[pol["activation"]], "log_std_init": float(pol["log_std_init"]),
                     "ortho_init": bool(pol["ortho_init"])}
    ppo = dict(cfg["ppo"])
    model = PPO("MlpPolicy", vec, learning_rate=lr, policy_kwargs=policy_kwargs, seed=seed, device="cpu",
                verbose=0, **ppo)

    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signal.Signals(signum).name

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return train_and_measure(args, command, cfg, task, model, vec, vec_norm, stop, env_steps, final_episodes,
                                 max_minutes, seed, weights, card_path, curve_path, candidate, BaseCallback)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def train_and_measure(args, command, cfg, task, model, vec, vec_norm, stop, env_steps, final_episodes,
                      max_minutes, seed, weights, card_path, curve_path, candidate, BaseCallback) -> int:
    t0 = time.perf_counter()
    rows: list[dict] = []
    best = {"score": -math.inf, "env_steps": 0}
    eval_every, eval_episodes = int(cfg["eval"]["every_steps"]), int(cfg["eval"]["episodes"])
    stop_score = cfg["stop_score"]

    def checkpoint(steps: int) -> bool:
        """Evaluate the current policy, keep it if it is the best so far (or meets stop_score);
        returns whether it meets stop_score."""
        save_torch_atomic(export_blob(model, vec_norm, task, cfg), candidate)
        scores = evaluate(candidate, task, eval_episodes, seeds.EXPERT_SELECT)
        score = float(scores.mean())
        statistic = float(scores.min() if cfg["stop_statistic"] == "min" else score)
        stopping = stop_score is not None and statistic >= stop_score
        if score > best["score"] or stopping:
            best.update(score=score, env_steps=steps)
            os.replace(candidate, weights)
        else:
            candidate.unlink()
        infos = list(model.ep_info_buffer or [])
        rows.append({"env_steps": steps, "wall_minutes": round((time.perf_counter() - t0) / 60, 3),
                     "eval_score": round(score, 4), "eval_std": round(float(scores.std()), 4),
                     "eval_episodes": eval_episodes, "best_score": round(best["score"], 4),
                     "train_episode_return": round(float(np.mean([i["r"] for i in infos])), 3) if infos else "",
                     "train_success": (round(float(np.mean([i["success"] for i in infos])), 3)
                                       if infos and "success" in infos[0] else ""),
                     "learning_rate": f"{model.policy.optimizer.param_groups[0]['lr']:.3g}"})
        write_curve(curve_path, rows)
        print(f"[{rows[-1]['wall_minutes']:7.2f} min] {steps:>9d} steps  eval {score:9.3f} "
              f"+- {scores.std():8.3f}  best {best['score']:9.3f} @ {best['env_steps']}  "
              f"train {rows[-1]['train_episode_return']}", flush=True)
        return stopping

    class Periodic(BaseCallback):
        def __init__(self):
            super().__init__()
            self.next_eval = eval_every
            self.reason = "env-step budget reached"

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self.next_eval += eval_every
                if checkpoint(self.num_timesteps):
                    self.reason = f"selection {cfg['stop_statistic']} reached stop_score {stop_score:g}"
                    return False
            if stop["signal"] is not None:
                self.reason = f"stopped by {stop['signal']}"
                return False
            if max_minutes is not None and time.perf_counter() - t0 > 60 * float(max_minutes):
                self.reason = f"wall-time limit of {max_minutes} min reached"
                return False
            return True

    callback = Periodic()
    print(f"training {task.name}: PPO, {env_steps} env steps, {cfg['n_envs']} envs, seed {seed}", flush=True)
    model.learn(total_timesteps=env_steps, callback=callback)
    if not rows or rows[-1]["env_steps"] != model.num_timesteps:
        checkpoint(model.num_timesteps)
    train_minutes = (time.perf_counter() - t0) / 60
    vec.close()
    print(f"training ended ({callback.reason}) after {model.num_timesteps} env steps, {train_minutes:.1f} min; "
          f"measuring the best export ({best['env_steps']} steps) over {final_episodes} episodes", flush=True)

    t1 = time.perf_counter()
    scores = evaluate(weights, task, final_episodes, seeds.EXPERT_MEASURE)
    mean_action_scores = (evaluate(weights, task, final_episodes, seeds.EXPERT_MEASURE, sampled=False)
                          if task.expert_actions == "sampled" else scores)
    measure_minutes = (time.perf_counter() - t1) / 60
    score = float(scores.mean())
    target = cfg["target"]
    card = {
        "task": task.name, "algorithm": "PPO (stable-baselines3)", "metric": task.metric,
        "metric_description": ("success rate" if task.metric == "success" else "mean undiscounted return")
        + (", actions sampled as in the demonstrations" if task.expert_actions == "sampled" else
           ", deterministic mean actions"),
        "score": round(score, 4), "score_std": round(float(scores.std()), 4),
        "score_mean_actions": round(float(mean_action_scores.mean()), 4),
        "episodes_measured": final_episodes,
        "measure_seeds": f"{seeds.EXPERT_MEASURE}..{seeds.EXPERT_MEASURE + final_episodes - 1}",
        "target": target, "meets_target": None if target is None else bool(score >= float(target)),
        "env_steps": int(model.num_timesteps), "env_steps_budget": env_steps,
        "best_checkpoint_env_steps": int(best["env_steps"]), "selection_score": round(best["score"], 4),
        "selection_episodes": eval_episodes, "stop_reason": callback.reason,
        "train_wall_minutes": round(train_minutes, 2), "measure_wall_minutes": round(measure_minutes, 2),
        "weights_file": weights.name, "sha256": sha256_file(weights), "curve_file": curve_path.name,
        "command": command, "config_file": args.config.as_posix(), "config": cfg, "seed": seed,
        "versions": {name: version(name) for name in ("mujoco", "gymnasium", "gymnasium-robotics",
                                                      "stable-baselines3", "torch")},
        "mujoco_version": version("mujoco"),
    }
    write_json_atomic(card_path, card)
    print(f"{task.name}: {task.metric} {score:.4f} +- {scores.std():.4f} over {final_episodes} episodes "
          f"(best export from {best['env_steps']} steps); card {card_path}", flush=True)
    return 0


def write_curve(path: Path, rows: list[dict]) -> None:
    write_csv_atomic(path, rows, CURVE_FIELDS)
