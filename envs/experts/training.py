"""Train an RL expert (hand_rotate, walker, cheetah, ant_reach) from scratch with stable-baselines3: PPO, or
DDPG with hindsight experience replay (HER) for a goal task (hand_rotate, as the authors' expert script).

Every `eval.every_steps` env steps the current policy is exported (actor mean, log std and
observation statistics) and evaluated as the task's demonstrations use it (deterministic mean
actions, or sampled ones: the registry's `expert_actions`) through the same loader the data
pipeline uses (envs/experts/rl.py); the best export is kept (PPO can degrade late in training), or, with
`eval.rule: closest`, the one whose score is nearest the authors' demonstrations' (an expert chosen by its
data's statistics, not by strength). The learners and the export live in envs/experts/learners.py. At the
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
from envs.experts.learners import ALGORITHM_NAMES, build_ddpg_her, build_ppo, export_blob, optimizer
from envs.experts.rl import ACTIVATIONS, RLExpert


@dataclass
class PolicyConfig:
    hidden: list[int] = option([256, 256], "actor hidden widths", item_gt=0)
    value_hidden: list[int] | None = option(None, "value-net widths (null: the actor's)", item_gt=0)
    activation: str = option("tanh", "hidden activation", choices=tuple(ACTIVATIONS))
    log_std_init: float = option(0.0, "initial log std of the Gaussian policy")
    log_std_trainable: bool = option(True, "learn the log std; false holds the action noise at exp(log_std_init) "
                                     "(an expert as noisy as the authors', which learns to act under that noise)")
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
class DDPGConfig:
    """DDPG with HER (stable-baselines3's DDPG and HerReplayBuffer); defaults as the HER paper's
    robotics experiments (Plappert et al. 2018) where stable-baselines3 can express them."""

    buffer_size: int = option(1_000_000, "replay buffer size in transitions", gt=0)
    batch_size: int = option(256, "minibatch size", gt=0)
    gamma: float = option(0.98, "discount", ge=0, le=1)
    tau: float = option(0.05, "target-network update rate (the HER paper's polyak 0.95)", gt=0, le=1)
    learning_starts: int = option(1000, "env steps of random actions before learning", ge=0)
    train_episodes: int = option(2, "episodes collected between training phases", gt=0)
    gradient_steps: int = option(40, "minibatch updates per training phase", gt=0)
    action_noise: float = option(0.2, "std of the Gaussian exploration noise on the actor's action", ge=0)
    n_sampled_goal: int = option(4, "relabelled goals per real one (HER's k)", gt=0)
    goal_selection_strategy: str = option("future", "HER's relabelling strategy",
                                          choices=("future", "final", "episode"))


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
    type: str = option("rotation_distance", "rotation_distance: reward = -(rotation error, rad) + success_bonus "
                       "on success; success_bonus: the env's reward + success_bonus on every step whose "
                       "info['success'] is set", choices=("rotation_distance", "success_bonus"))
    success_bonus: float = option(0.0, "bonus on success", ge=0)


@dataclass
class Selection:
    every_steps: int = option(50_000, "env steps between exports evaluated to pick the best", gt=0)
    episodes: int = option(10, "episodes per such evaluation (actions as the demonstrations use them)", gt=0)
    rule: str = option("best", "which export is kept: best (highest mean score), or closest (mean score nearest "
                       "`aim` among the evaluations whose every episode scores at least `floor`: an expert "
                       "chosen by its demonstrations' statistics, not by strength)", choices=("best", "closest"))
    aim: float | None = option(None, "the mean score rule 'closest' aims at (the authors' demonstrations')")
    floor: float | None = option(None, "rule 'closest': the lowest episode score an eligible evaluation may hold "
                                 "(e.g. below any flipped cheetah's return); null: no floor")
    seeds: str = option("selection", "the episodes each export plays: selection (seeds of their own), or "
                        "demonstrations (the data stage's first `episodes` episodes: its seeds and its expert "
                        "generator, seed 0), so that an expert chosen by its data's statistics is chosen by "
                        "the very demonstrations it ships", choices=("selection", "demonstrations"))


@dataclass
class ExpertConfig:
    """An RL expert's recipe (config/experts/<task>.yaml)."""

    task: str = option("", "the task it is trained for (one whose registry entry has an RL expert)")
    env_steps: int = option(1, "training budget in env steps", gt=0)
    n_envs: int = option(1, "environments stepped together", gt=0)
    algorithm: str = option("ppo", "the RL algorithm: ppo, or ddpg_her (a goal task's sparse reward, relabelled)",
                            choices=("ppo", "ddpg_her"))
    seed: int = option(0, "training seed", ge=0)
    max_wall_minutes: float | None = option(None, "stop training after this long, keeping the best export", gt=0)
    target: float | None = option(None, "score the card compares the measurement with")
    stop_score: float | None = option(None, "end training at the first periodic evaluation whose stop_statistic "
                                      "reaches this, keeping that export (an expert as strong as the "
                                      "authors', not stronger); null: the whole budget")
    stop_statistic: str = option("mean", "of that evaluation's episode scores: mean, or min (every episode)",
                                 choices=("mean", "min"))
    policy: PolicyConfig = option(PolicyConfig(), "actor and value networks")
    ppo: PPOConfig = option(PPOConfig(), "PPO's arguments (algorithm ppo)")
    ddpg: DDPGConfig = option(DDPGConfig(), "DDPG's and HER's arguments (algorithm ddpg_her)")
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
    other = {"ppo": "ddpg", "ddpg_her": "ppo"}.get(raw.get("algorithm", "ppo"))
    if other is not None and raw.get(other) is not None:
        raise BenchError(f"{path}: field '{other}' does not apply to algorithm '{raw.get('algorithm', 'ppo')}'")
    raw = {key: value for key, value in raw.items() if not (key == other and value is None)}
    cfg = from_values(ExpertConfig, raw, str(path))
    if cfg.algorithm == "ddpg_her":
        if cfg.reward_shaping is not None or cfg.normalize.reward:
            raise BenchError(f"{path}: algorithm 'ddpg_her' relabels the env's own sparse reward: "
                             f"'reward_shaping' must be null and 'normalize.reward' false")
        if not hasattr(envs.get_task(cfg.task).make().unwrapped, "sim_env"):
            raise BenchError(f"{path}: algorithm 'ddpg_her' needs a goal task (one built on a goal env), "
                             f"not '{cfg.task}'")
    if cfg.eval.rule == "closest" and cfg.eval.aim is None:
        raise BenchError(f"{path}: field 'eval.aim' is required by eval.rule 'closest'")
    if cfg.eval.rule == "best" and (cfg.eval.aim is not None or cfg.eval.floor is not None):
        raise BenchError(f"{path}: fields 'eval.aim' and 'eval.floor' belong to eval.rule 'closest', not 'best'")
    if envs.get_task(cfg.task).expert != "rl":
        rl_tasks = [name for name, task in envs.TASKS.items() if task.expert == "rl"]
        raise BenchError(f"{path}: field 'task' must be a task with an RL expert ({', '.join(rl_tasks)}), "
                         f"got {cfg.task!r}")
    return dataclasses.asdict(cfg)


def demonstration_scores(path: Path, task, episodes: int, expert_seed: int = 0) -> np.ndarray:
    """The score of each of the first `episodes` episodes the data stage (envs.demos.collect) would record
    with the expert at `path`: its env, seeds and expert generator."""
    from envs.demos import rollout
    from envs.experts.rl import load_rl_expert

    env = task.make(**task.demo_kwargs)
    expert = load_rl_expert(task.name, env, path, rng=np.random.default_rng(expert_seed),
                            sampled=task.expert_actions == "sampled")
    scores = []
    for i in range(episodes):
        episode = rollout(env, expert.act, seeds.DEMO + i, on_reset=expert.reset)
        scores.append(float(episode["success"].any()) if task.metric == "success" else episode["return"])
    env.close()
    return np.asarray(scores)


def evaluate(path: Path, task, episodes: int, seed_base: int, sampled: bool | None = None) -> np.ndarray:
    """Episodes of the expert at `path` on seeds seed_base.. (the suite's evaluation protocol), its
    actions as the task's demonstrations use them unless `sampled` says otherwise (sampled actions
    draw from a generator seeded with seed_base); returns the per-episode score (success or return)."""
    sampled = task.expert_actions == "sampled" if sampled is None else sampled
    expert = RLExpert(path, task.name, rng=np.random.default_rng(seed_base) if sampled else None)
    rows = run_episodes(lambda obs: np.stack([expert.act(o) for o in obs]), task.name,
                        seeds.episode_seeds(seed_base, episodes), num_envs=1)
    return np.asarray([float(r["success"]) if task.metric == "success" else r["return"] for r in rows])


CURVE_FIELDS = ["env_steps", "wall_minutes", "eval_score", "eval_std", "eval_min", "eval_episodes", "best_score",
                "train_episode_return", "train_success", "learning_rate"]


def train(args, command: str) -> int:
    """Train, select and measure an expert. `args` has task, config (path), out_dir, threads and
    the optional overrides env_steps, eval_episodes and max_minutes (None: the config's)."""
    torch.set_num_threads(max(1, args.threads))
    from stable_baselines3.common.callbacks import BaseCallback

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

    build = build_ddpg_her if cfg["algorithm"] == "ddpg_her" else build_ppo
    model, vec, vec_norm = build(cfg, task, seed)

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
    t0, cpu0 = time.perf_counter(), time.process_time()
    rows: list[dict] = []
    best = {"score": -math.inf, "env_steps": 0, "distance": math.inf, "kept": False}
    select = cfg["eval"]
    eval_every, eval_episodes = int(select["every_steps"]), int(select["episodes"])
    stop_score = cfg["stop_score"]

    def better(scores: np.ndarray) -> bool:
        """Whether this evaluation's export replaces the kept one under eval.rule."""
        if select["rule"] == "best":
            return float(scores.mean()) > best["score"]
        if select["floor"] is not None and float(scores.min()) < float(select["floor"]):
            return False
        distance = abs(float(scores.mean()) - float(select["aim"]))
        if distance < best["distance"]:
            best["distance"] = distance
            return True
        return False

    def checkpoint(steps: int) -> bool:
        """Evaluate the current policy, keep it if eval.rule prefers it (or it meets stop_score);
        returns whether it meets stop_score."""
        save_torch_atomic(export_blob(model, vec_norm, task, cfg), candidate)
        scores = (demonstration_scores(candidate, task, eval_episodes) if select["seeds"] == "demonstrations"
                  else evaluate(candidate, task, eval_episodes, seeds.EXPERT_SELECT))
        score = float(scores.mean())
        statistic = float(scores.min() if cfg["stop_statistic"] == "min" else score)
        stopping = stop_score is not None and statistic >= stop_score
        if better(scores) or stopping:
            best.update(score=score, env_steps=steps, kept=True)
            os.replace(candidate, weights)
        else:
            candidate.unlink()
        infos = list(model.ep_info_buffer or [])
        rows.append({"env_steps": steps, "wall_minutes": round((time.perf_counter() - t0) / 60, 3),
                     "eval_score": round(score, 4), "eval_std": round(float(scores.std()), 4),
                     "eval_min": round(float(scores.min()), 4),
                     "eval_episodes": eval_episodes, "best_score": round(best["score"], 4),
                     "train_episode_return": round(float(np.mean([i["r"] for i in infos])), 3) if infos else "",
                     "train_success": (round(float(np.mean([i["success"] for i in infos])), 3)
                                       if infos and "success" in infos[0] else ""),
                     "learning_rate": f"{optimizer(model).param_groups[0]['lr']:.3g}"})
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
    print(f"training {task.name}: {ALGORITHM_NAMES[cfg['algorithm']]}, {env_steps} env steps, "
          f"{cfg['n_envs']} envs, seed {seed}", flush=True)
    model.learn(total_timesteps=env_steps, callback=callback)
    if not rows or rows[-1]["env_steps"] != model.num_timesteps:
        checkpoint(model.num_timesteps)
    train_minutes = (time.perf_counter() - t0) / 60
    train_cpu_minutes = (time.process_time() - cpu0) / 60
    vec.close()
    if not best["kept"]:
        raise BenchError(f"{args.config}: no evaluation met eval.floor {select['floor']:g} in {model.num_timesteps} "
                         f"env steps (the learning curve is in {curve_path}); lower it or train longer")
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
        "task": task.name, "algorithm": f"{ALGORITHM_NAMES[cfg['algorithm']]} (stable-baselines3)",
        "metric": task.metric,
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
        "selection_episodes": eval_episodes, "selection_rule": select["rule"],
        "selection_seeds": select["seeds"], "stop_reason": callback.reason,
        "train_wall_minutes": round(train_minutes, 2), "train_cpu_minutes": round(train_cpu_minutes, 2),
        "measure_wall_minutes": round(measure_minutes, 2),
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
