"""Roll out a task's expert and write its demonstrations as a local Minari dataset.

Success tasks keep only successful episodes (as the authors did), cut at their first success where the
task says so (AntReach, as the authors' loader cut theirs). The dataset is built in a
temporary directory and renamed into place, so a killed job never leaves a dataset that looks
finished. A JSON summary beside it records the expert's raw success rate and the reference
scores (random policy, expert) used to normalise returns.
"""
from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

import envs
from dbc_bench import kernels, provenance, seeds
from dbc_bench.errors import BenchError
from dbc_bench.io import write_json_atomic
from envs import shipped
from envs.experts import make_expert


def rollout(env, act, seed: int, on_reset=None, finished=None) -> dict:
    """One episode; `act(obs) -> action`; `finished()`, if given, ends it (as terminated) after the
    step whose action was chosen once the task was solved (an expert that decides when its
    demonstration is over, as the maze's does). Returns arrays in Minari's episode-buffer layout."""
    obs, info = env.reset(seed=seed)
    if on_reset is not None:
        on_reset(obs)
    observations, actions, rewards, terms, truncs = [obs], [], [], [], []
    successes = [bool(info.get("success", False))]
    done = False
    while not done:
        action = act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        terminated = bool(terminated) or (finished is not None and finished())
        observations.append(obs)
        actions.append(action)
        rewards.append(float(reward))
        terms.append(terminated)
        truncs.append(bool(truncated) and not terminated)
        successes.append(bool(info.get("success", False)))
        done = terminated or truncated
    return {"seed": seed, "observations": np.asarray(observations, dtype=np.float32),
            "actions": np.asarray(actions, dtype=np.float32), "rewards": np.asarray(rewards),
            "terminations": np.asarray(terms), "truncations": np.asarray(truncs),
            "success": np.asarray(successes), "return": float(np.sum(rewards))}


def cut_at_first_success(episode: dict) -> dict:
    """The episode up to and including the first step whose info['success'] is set, that step marked as
    its end (terminated); an episode that never succeeds is returned unchanged."""
    hits = np.flatnonzero(episode["success"][1:])
    if not len(hits):
        return episode
    steps = int(hits[0]) + 1
    cut = dict(episode, observations=episode["observations"][:steps + 1], actions=episode["actions"][:steps],
               rewards=episode["rewards"][:steps], success=episode["success"][:steps + 1],
               terminations=np.arange(steps) == steps - 1, truncations=np.zeros(steps, dtype=bool))
    cut["return"] = float(np.sum(cut["rewards"]))
    return cut


def data_statistics(episodes: list[dict], forward_velocity_obs: int | None = None) -> dict:
    """What the report's data table sets beside the authors' data: sizes, episode lengths, the actions'
    spread, at the box's bounds (|a| >= 1, e.g. clipped) and beyond them (unclipped samples), their
    range and mean frame-to-frame change per dimension, and (where the task has one) the mean forward
    velocity of the recorded states."""
    lengths = np.asarray([len(ep["actions"]) for ep in episodes])
    actions = np.concatenate([ep["actions"] for ep in episodes]).astype(np.float64)
    changes = np.concatenate([np.abs(np.diff(ep["actions"].astype(np.float64), axis=0)) for ep in episodes
                              if len(ep["actions"]) > 1])
    returns = np.asarray([ep["return"] for ep in episodes])
    stats = {"episodes": len(episodes), "transitions": int(lengths.sum()), "length_mean": float(lengths.mean()),
             "length_min": int(lengths.min()), "length_max": int(lengths.max()),
             "action_std": [float(v) for v in actions.std(0)],
             "action_at_or_beyond_1": float(np.mean(np.abs(actions) >= 1.0 - 1e-6)),
             "action_beyond_1": float(np.mean(np.abs(actions) > 1.0 + 1e-6)),
             "action_min": float(actions.min()), "action_max": float(actions.max()),
             "action_change": [float(v) for v in changes.mean(0)],
             "return_mean": float(returns.mean()), "return_min": float(returns.min()),
             "return_max": float(returns.max())}
    if forward_velocity_obs is not None:
        states = np.concatenate([ep["observations"][:-1] for ep in episodes]).astype(np.float64)
        stats["forward_speed"] = float(states[:, forward_velocity_obs].mean())
    return stats


def random_policy_score(task, episodes: int) -> float:
    env = task.make()
    env.action_space.seed(seeds.RANDOM_POLICY)
    returns = [rollout(env, lambda _: env.action_space.sample(), seeds.RANDOM_POLICY + i)["return"]
               for i in range(episodes)]
    env.close()
    return float(np.mean(returns))


def collect(task_name: str, out_dir: Path, summary_path: Path, episodes: int | None,
            transitions: int | None, expert_seed: int, eval_env_kwargs: dict | None = None,
            max_attempts_factor: float = 3.0, random_episodes: int = 20) -> dict:
    task = envs.get_task(task_name)
    if (episodes is None) == (transitions is None):
        raise BenchError(f"data budget for '{task_name}': give exactly one of 'episodes' or 'transitions'")
    env = task.make(**task.demo_kwargs)
    expert = make_expert(task_name, env, np.random.default_rng(expert_seed))
    finished = (lambda: expert.done) if hasattr(expert, "done") else None

    kept, attempted, n_transitions, all_returns, all_success = [], 0, 0, [], []
    target = episodes if episodes is not None else transitions
    max_attempts = int(max_attempts_factor * (episodes or transitions)) + 10
    start = time.perf_counter()

    while (len(kept) if episodes is not None else n_transitions) < target:
        if attempted >= max_attempts:
            raise BenchError(f"expert for '{task_name}' kept {len(kept)} of {attempted} episodes: "
                             f"too few successes to reach the data budget")
        episode = rollout(env, expert.act, seeds.DEMO + attempted, on_reset=expert.reset, finished=finished)
        attempted += 1
        success = bool(episode["success"].any())
        all_returns.append(episode["return"])   # the expert's whole episode, before any cut
        if task.demo_cut_at_success:
            episode = cut_at_first_success(episode)
        all_success.append(success)
        if task.metric == "return" or success:
            kept.append(episode)
            n_transitions += len(episode["actions"])
    collect_seconds = time.perf_counter() - start

    # A return task (walker) has no success signal: its expert is described by its return alone.
    success_rate = float(np.mean(all_success)) if task.metric == "success" else None
    expert_score = success_rate if task.metric == "success" else float(np.mean(all_returns))
    random_score = random_policy_score(task, random_episodes)
    quality = (f"raw success {success_rate:.3f}" if success_rate is not None
               else f"mean return {np.mean(all_returns):.1f} +- {np.std(all_returns):.1f}")
    print(f"{task_name}: expert {quality} over {attempted} episodes (mean return {np.mean(all_returns):.2f}); "
          f"kept {len(kept)} episodes, {n_transitions} transitions ({collect_seconds:.1f} s); "
          f"random-policy return {random_score:.2f}", flush=True)

    description = (f"{task_name} demonstrations from: {expert.description}. Expert {quality} over "
                   f"{attempted} episodes; "
                   + ("successful episodes only" + (", each cut at its first success." if task.demo_cut_at_success
                                                    else ".") if task.metric == "success" else "all episodes."))
    dataset_id = write_dataset(task, kept, out_dir, env, expert.description, description, random_score,
                               expert_score if task.metric == "return" else 1.0, eval_env_kwargs)
    env.close()

    summary = {
        "statistics": data_statistics(kept, task.forward_velocity_obs),
        "task": task_name, "metric": task.metric, "dataset_id": dataset_id, "dataset_dir": str(out_dir),
        "expert": expert.description, "expert_raw_success_rate": success_rate,
        "expert_mean_return": float(np.mean(all_returns)), "episodes_attempted": attempted,
        "episodes_kept": len(kept), "transitions": n_transitions,
        "ref_min_score": random_score,
        "ref_max_score": expert_score if task.metric == "return" else 1.0,
        "collect_seconds": collect_seconds, "mujoco_version": _version("mujoco"),
    }
    write_json_atomic(summary_path, summary)
    return summary


def write_dataset(task, episodes: list[dict], out_dir: Path, env, algorithm: str, description: str,
                  ref_min_score: float, ref_max_score: float, eval_env_kwargs: dict | None) -> str:
    """Write `episodes` (rollout()'s layout) as the task's local Minari dataset in `out_dir`: built in a
    staging folder beside it and renamed into place, so a killed job never leaves a dataset that
    looks finished. Returns the dataset id."""
    import h5py
    import minari
    from minari.data_collector import EpisodeBuffer

    buffers = [EpisodeBuffer(id=i, seed=ep["seed"], observations=ep["observations"], actions=ep["actions"],
                             rewards=ep["rewards"], terminations=ep["terminations"],
                             truncations=ep["truncations"],
                             infos={"success": ep["success"]} if "success" in ep else None)
               for i, ep in enumerate(episodes)]
    dataset_id = f"dbc/{task.name}/expert-v0"
    # Minari mangles relative roots: give it an absolute one.
    staging = (out_dir.parent / f".staging-{out_dir.name}-{os.getpid()}").resolve()
    shutil.rmtree(staging, ignore_errors=True)
    os.environ["MINARI_DATASETS_PATH"] = str(staging)  # Minari writes a dataset only under this root
    # HDF5's C library prints its own error stack for every failed call (over a hundred on a full disk); the
    # OSError h5py raises says it once. Silenced for this process (h5py has no switch back).
    h5py._errors.silence_errors()
    permalink = provenance.code_permalink("envs/demos.py")
    try:
        with warnings.catch_warnings():
            if permalink is None:  # no web origin to link to: the card records the commit instead
                warnings.filterwarnings("ignore", message="`code_permalink` is set to None")
            minari.create_dataset_from_buffers(
                dataset_id=dataset_id, buffer=buffers, env=env, eval_env=task.make(**(eval_env_kwargs or {})).spec,
                algorithm_name=algorithm, author="DBC-Bench", author_email="dbc-bench@users.noreply.github.com",
                code_permalink=permalink, ref_min_score=ref_min_score, ref_max_score=ref_max_score,
                description=description, data_format="hdf5", requirements=dataset_requirements())
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / dataset_id, out_dir)
    except OSError as exc:  # disk full, no permission: one line, and no staging folder left behind
        raise BenchError(f"{out_dir}: cannot write the dataset ({exc.strerror or str(exc).splitlines()[0]})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dataset_id


def expert_file(task_name: str) -> Path | None:
    """The RL expert file a task's demonstrations come from (None for a scripted expert)."""
    if envs.get_task(task_name).expert != "rl":
        return None
    from envs.experts.rl import expert_path

    return expert_path(task_name)


def produce(task_name: str, out_dir: Path, summary_path: Path, data: dict, expert_seed: int,
            eval_env_kwargs: dict, demos: str = "shipped", random_episodes: int = 20) -> dict:
    """The data stage: the shipped dataset where one was made by this recipe and `demos` is
    'shipped'; otherwise collect, then compare with the shipped card ('regenerate') or replace it
    ('ship'). The summary records which."""
    if demos not in shipped.DEMO_MODES:
        raise BenchError(f"demos '{demos}': choose from {', '.join(shipped.DEMO_MODES)}")
    unknown = sorted(set(data) - {"episodes", "transitions"})
    if unknown:
        raise BenchError(f"data budget for '{task_name}': unknown key '{unknown[0]}' (episodes or transitions)")
    wanted = shipped.recipe(task_name, data, expert_seed, eval_env_kwargs, expert_file(task_name))
    has_card = shipped.applies(task_name, wanted)
    if demos == "shipped" and has_card:
        summary = {**shipped.install(task_name, out_dir), "dataset_dir": str(out_dir),
                   "source": f"shipped: {shipped.card_path(task_name)}", "files": shipped.file_hashes(out_dir)}
        print(f"{task_name}: installed the shipped dataset ({summary['episodes_kept']} episodes, "
              f"{summary['transitions']} transitions; sha256 checked against {shipped.card_path(task_name)})")
        write_json_atomic(summary_path, summary)
        return summary
    summary = collect(task_name, out_dir, summary_path, data.get("episodes"), data.get("transitions"), expert_seed,
                      eval_env_kwargs=eval_env_kwargs, random_episodes=random_episodes)
    summary.update(source="collected", files=shipped.file_hashes(out_dir), provenance=provenance.record())
    if demos == "ship":
        made_by = {"command": shipped.SHIP_COMMAND, **provenance.record(), "kernels": kernels.settings()}
        path = shipped.ship(task_name, out_dir, summary, wanted, made_by)
        print(f"{task_name}: shipped as {path.parent}")
    elif has_card:
        summary["shipped_comparison"] = shipped.compare(task_name, out_dir)
        print(f"{task_name}: regenerated dataset: {shipped.describe(summary['shipped_comparison'])}")
    elif demos == "shipped":
        print(f"{task_name}: no shipped dataset was made by this recipe (data budget, expert seed, "
              f"evaluation env kwargs, expert file): collected")
    write_json_atomic(summary_path, summary)
    return summary


# What Minari's recover_environment() needs installed to rebuild a dataset's environments: this suite
# registers the task ids, on gymnasium, gymnasium-robotics and MuJoCo.
ENV_PACKAGES = ("dbc-bench", "gymnasium", "gymnasium-robotics", "mujoco")


def dataset_requirements() -> list[str]:
    """Pinned pip requirements for a dataset's metadata (Minari warns at recover_environment() when one
    is missing or of another version)."""
    return [f"{package}=={_version(package)}" for package in ENV_PACKAGES]


def _version(package: str) -> str:
    from importlib.metadata import version
    return version(package)
