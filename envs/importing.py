"""Demonstrations from outside the suite: read a user's dataset, check it against its task, and write
it in the suite's Minari layout, so the rest of the DAG runs unchanged (config key `datasets`).

Sources (`datasets: {<task>: <path>}`, or a mapping `{path, format, frame, ref_min_score, ref_max_score}`):
- `minari`: a local Minari dataset: its folder (holding data/), or its id under MINARI_DATASETS_PATH;
- `d4rl`: an HDF5 file with `observations` [N, d], `actions` [N, k], `terminals` and `timeouts` [N]
  (an episode ends where either is set), optional `rewards` [N] and `next_observations` [N, d];
- `authors`: a torch file in the DBC authors' layout, a dict of float tensors `obs` [N, d], `next_obs`
  [N, d], `actions` [N, k] and `done` [N] (1.0 on each episode's last transition), loaded weights-only.
  Their own walker and halfcheetah files store `next_obs` equal to `obs` in every row: such a copy, or
  a file without `next_obs`, gets next observations from the following rows of each episode (said in
  the log and in the summary's `next_obs`).
The format follows from the path (folder or id: minari; .hdf5/.h5: d4rl; .pt/.pth: authors) unless
given. `frame: d4rl` rotates maze data recorded in D4RL's maze2d frame into the suite's (gymnasium's):
x = y' - 3.5, y = 3.5 - x' for positions and goals, and the same rotation without offset for velocities
and actions.

A bad file is one line naming it and the field: missing keys, non-float data, shapes against the task,
NaN or inf, observations and actions of different lengths, episode boundaries missing (the data does
not end an episode, an episode outruns the task's horizon, or the authors' next_obs disagrees with the
next obs inside an episode).

Reference scores (for normalising returns) come from the source's metadata where it has them (a
Minari dataset, or the mapping's `ref_min_score` / `ref_max_score`); otherwise they are measured:
a random policy's mean return in the task's env, and the data's own mean return.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import envs
from dbc_bench import provenance
from dbc_bench.errors import BenchError
from dbc_bench.io import sha256_file, write_json_atomic
from envs import demos, shipped

FORMATS = ("minari", "d4rl", "authors")
FRAMES = ("suite", "d4rl")
SOURCE_KEYS = ("path", "format", "frame", "ref_min_score", "ref_max_score")
# Maze centre offset between D4RL's maze2d frame and gymnasium's PointMaze frame.
_MAZE_OFFSET = 3.5


@dataclass(frozen=True)
class Source:
    """One task's entry of the config key `datasets`, checked."""

    path: Path
    format: str
    frame: str = "suite"
    ref_min_score: float | None = None
    ref_max_score: float | None = None

    @property
    def files(self) -> list[Path]:
        """The files whose bytes define the source (a Minari dataset's are under data/)."""
        if self.format == "minari":
            return sorted(p for p in (self.path / "data").rglob("*") if p.is_file())
        return [self.path]


def _minari_root() -> Path:
    default = Path.home() / ".minari" / "datasets"
    return Path(os.environ.get("MINARI_DATASETS_PATH", default))  # a user's datasets: where Minari itself looks


def parse_source(task_name: str, entry) -> Source:
    """`datasets.<task>`: a path or a mapping; the format inferred from the path unless given."""
    where = f"config 'datasets.{task_name}'"
    envs.get_task(task_name)
    if isinstance(entry, (str, os.PathLike)):
        entry = {"path": str(entry)}
    if not isinstance(entry, dict) or "path" not in entry:
        raise BenchError(f"{where}: expected a path or a mapping with 'path'")
    unknown = sorted(set(entry) - set(SOURCE_KEYS))
    if unknown:
        raise BenchError(f"{where}: unknown key '{unknown[0]}'; choose from {', '.join(SOURCE_KEYS)}")
    path = Path(str(entry["path"])).expanduser()
    if not path.exists() and (_minari_root() / str(entry["path"])).is_dir():
        path = _minari_root() / str(entry["path"])  # a Minari dataset id
    if not path.exists():
        raise BenchError(f"{where}: no file or folder '{entry['path']}' (nor a Minari dataset id under "
                         f"{_minari_root()})")
    fmt = entry.get("format") or ("minari" if path.is_dir() else
                                  "d4rl" if path.suffix in (".hdf5", ".h5") else
                                  "authors" if path.suffix in (".pt", ".pth") else None)
    if fmt not in FORMATS:
        raise BenchError(f"{where}: cannot tell the format of '{path}'; set 'format' to one of {', '.join(FORMATS)}")
    frame = entry.get("frame", "suite")
    if frame not in FRAMES:
        raise BenchError(f"{where}: frame '{frame}': choose from {', '.join(FRAMES)}")
    if frame == "d4rl" and task_name != "maze":
        raise BenchError(f"{where}: frame 'd4rl' converts maze data only")
    refs = {}
    for key in ("ref_min_score", "ref_max_score"):
        if entry.get(key) is not None:
            if isinstance(entry[key], bool) or not isinstance(entry[key], (int, float)):
                raise BenchError(f"{where}: '{key}' must be a number")
            refs[key] = float(entry[key])
    return Source(path, fmt, frame, **refs)


# ----------------------------------------------------------------------------- readers
# Each returns (arrays, metadata): arrays of the whole file, transition-major, and what the source says
# about its reference scores.

def _float_array(name: str, value, where: str) -> np.ndarray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.floating):
        raise BenchError(f"{where}: '{name}' must hold floats, not {array.dtype}")
    return array.astype(np.float64)


def _flag_array(name: str, value, where: str) -> np.ndarray:
    array = np.asarray(value)
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.number)):
        raise BenchError(f"{where}: '{name}' must hold 0/1 flags, not {array.dtype}")
    if array.ndim != 1:
        raise BenchError(f"{where}: '{name}' must be one flag per transition, got shape {list(array.shape)}")
    if not np.isin(array.astype(np.float64), (0.0, 1.0)).all():
        raise BenchError(f"{where}: '{name}' must hold only 0 and 1")
    return array.astype(bool)


def _read_d4rl(source: Source) -> tuple[dict, dict]:
    import h5py

    where = str(source.path)
    try:
        with h5py.File(source.path, "r") as f:
            keys = set(f.keys())
            missing = sorted({"observations", "actions", "terminals", "timeouts"} - keys)
            if missing:
                raise BenchError(f"{where}: missing key '{missing[0]}' (a D4RL file has observations, actions, "
                                 f"terminals, timeouts; rewards and next_observations optional)")
            present = [key for key in ("observations", "actions", "terminals", "timeouts", "rewards",
                                       "next_observations") if key in keys]
            for key in present:
                if not isinstance(f[key], h5py.Dataset):
                    raise BenchError(f"{where}: '{key}' is an HDF5 {type(f[key]).__name__.lower()}, not a dataset "
                                     f"(an array of one row per transition)")
            raw = {key: f[key][()] for key in present}
    except OSError as exc:
        raise BenchError(f"{where}: cannot read as HDF5 ({exc})") from exc
    arrays = {"obs": _float_array("observations", raw["observations"], where),
              "actions": _float_array("actions", raw["actions"], where),
              "ends": _flag_array("terminals", raw["terminals"], where),
              "timeouts": _flag_array("timeouts", raw["timeouts"], where)}
    arrays["terminals"] = arrays["ends"].copy()
    arrays["ends"] = arrays["ends"] | arrays["timeouts"]
    if "rewards" in raw:
        arrays["rewards"] = _float_array("rewards", raw["rewards"], where)
    if "next_observations" in raw:
        arrays["next_obs"] = _float_array("next_observations", raw["next_observations"], where)
    return arrays, {}


def _read_authors(source: Source) -> tuple[dict, dict]:
    import torch

    from dbc_bench.io import load_checkpoint

    where = str(source.path)
    data = load_checkpoint(source.path)  # weights-only: a file carrying code is refused
    missing = sorted({"obs", "actions", "done"} - set(data))
    if missing:
        raise BenchError(f"{where}: missing key '{missing[0]}' (the authors' layout: obs, next_obs, actions, done)")
    for key in ("obs", "next_obs", "actions", "done"):
        if key not in data:
            continue  # next_obs: optional (rebuilt from the following observation, see copied_next_obs)
        if not isinstance(data[key], torch.Tensor):
            raise BenchError(f"{where}: '{key}' must be a tensor, not {type(data[key]).__name__}")
        if not data[key].is_floating_point():
            raise BenchError(f"{where}: '{key}' must hold floats, not {data[key].dtype}")
    done = data["done"].reshape(-1) if data["done"].ndim == 2 and data["done"].shape[1] == 1 else data["done"]
    arrays = {"obs": data["obs"].double().numpy(), "actions": data["actions"].double().numpy(),
              "ends": _flag_array("done", done.numpy(), where)}
    if "next_obs" in data:
        arrays["next_obs"] = data["next_obs"].double().numpy()
    return arrays, {}  # `done` does not tell termination from a time limit: episodes_of() infers it


def _read_minari(source: Source) -> tuple[dict, dict]:
    import minari

    where = str(source.path)
    data_dir = source.path / "data" if (source.path / "data").is_dir() else source.path
    try:
        dataset = minari.MinariDataset(data_dir)
        episodes = list(dataset.iterate_episodes())
        metadata = dict(dataset.storage.metadata)
    except Exception as exc:  # h5py / json errors of a truncated or foreign folder
        raise BenchError(f"{where}: cannot read as a Minari dataset ({type(exc).__name__}: {exc})") from exc
    if not episodes:
        raise BenchError(f"{where}: the dataset holds no episodes")
    parts: dict[str, list] = {"obs": [], "next_obs": [], "actions": [], "rewards": [], "terminals": [], "ends": []}
    for ep in episodes:
        if isinstance(ep.observations, dict):
            raise BenchError(f"{where}: episode {ep.id} has dict observations; the task needs flat vectors")
        obs = _float_array("observations", ep.observations, where)
        actions = _float_array("actions", ep.actions, where)
        if len(obs) != len(actions) + 1:
            raise BenchError(f"{where}: episode {ep.id} has {len(obs)} observations for {len(actions)} actions "
                             f"(expected {len(actions) + 1})")
        ends = np.zeros(len(actions), dtype=bool)
        ends[-1] = True
        parts["obs"].append(obs[:-1])
        parts["next_obs"].append(obs[1:])
        parts["actions"].append(actions)
        parts["rewards"].append(np.asarray(ep.rewards, dtype=np.float64))
        parts["terminals"].append(np.asarray(ep.terminations, dtype=bool))
        parts["ends"].append(ends)
    arrays = {key: np.concatenate(value) for key, value in parts.items()}
    refs = {key: float(metadata[key]) for key in ("ref_min_score", "ref_max_score") if metadata.get(key) is not None}
    return arrays, refs


READERS = {"minari": _read_minari, "d4rl": _read_d4rl, "authors": _read_authors}


# ----------------------------------------------------------------------------- checks and conversion

def _rotate_maze(arrays: dict, point, vector) -> dict:
    """Maze data (x, y, vx, vy, gx, gy) and actions (ax, ay) in another frame: `point` maps the
    position and goal coordinates, `vector` the velocities and actions."""
    def rotate_obs(o: np.ndarray) -> np.ndarray:
        out = np.empty_like(o)
        out[:, 0], out[:, 1] = point(o[:, 0], o[:, 1])
        out[:, 2], out[:, 3] = vector(o[:, 2], o[:, 3])
        out[:, 4], out[:, 5] = point(o[:, 4], o[:, 5])
        return out

    out = dict(arrays)
    for key in ("obs", "next_obs"):
        if key in out:
            out[key] = rotate_obs(out[key])
    actions = out["actions"]
    out["actions"] = np.stack(vector(actions[:, 0], actions[:, 1]), axis=1)
    return out


def _rotate_from_d4rl(arrays: dict) -> dict:
    """Maze data in D4RL's maze2d frame -> the suite's."""
    return _rotate_maze(arrays, lambda x, y: (y - _MAZE_OFFSET, _MAZE_OFFSET - x), lambda x, y: (y, -x))


def rotate_to_d4rl(arrays: dict) -> dict:
    """The inverse of _rotate_from_d4rl: the suite's maze data -> D4RL's maze2d frame (the shipped
    example file examples/maze_demos_d4rl.pt is written with it)."""
    return _rotate_maze(arrays, lambda x, y: (_MAZE_OFFSET - y, x + _MAZE_OFFSET), lambda x, y: (-y, x))


def copied_next_obs(arrays: dict) -> str:
    """The authors' own walker and halfcheetah files store next_obs equal to obs in every row: such a copy
    (or no next_obs at all) carries no next observation, so it is dropped and each episode's observations
    are the following rows' (its last one repeated at the end, which BC-style methods never read).
    Returns what was done, for the log and the summary; '' where next_obs is recorded."""
    if "next_obs" not in arrays:
        return "absent: rebuilt from the following observation within each episode"
    if arrays["next_obs"].shape == arrays["obs"].shape and np.array_equal(arrays["next_obs"], arrays["obs"]):
        del arrays["next_obs"]
        return "a copy of obs in every row: rebuilt from the following observation within each episode"
    return ""


def check(task, arrays: dict, where: str) -> None:
    """Shapes against the task, finite values, and episode boundaries."""
    n = len(arrays["actions"])
    if n == 0:
        raise BenchError(f"{where}: holds no transitions")
    for key, dim in (("obs", task.obs_dim), ("next_obs", task.obs_dim), ("actions", task.act_dim)):
        if key not in arrays:
            continue
        array = arrays[key]
        if array.ndim != 2 or array.shape[1] != dim:
            raise BenchError(f"{where}: '{key}' has shape {list(array.shape)}; task '{task.name}' needs [N, {dim}]")
    for key in ("obs", "next_obs", "rewards", "ends", "terminals", "timeouts"):
        if key in arrays and len(arrays[key]) != n:
            raise BenchError(f"{where}: '{key}' has {len(arrays[key])} entries for {n} actions; "
                             f"observations and actions must pair up one to one")
    for key in ("obs", "next_obs", "actions", "rewards"):
        if key in arrays and not np.isfinite(arrays[key]).all():
            bad = int(np.argwhere(~np.isfinite(arrays[key]))[0][0])
            raise BenchError(f"{where}: '{key}' holds NaN or inf (first at transition {bad})")
    ends = arrays["ends"]
    if not ends[-1]:
        raise BenchError(f"{where}: episode boundaries missing: the last transition ({n - 1}) ends no episode")
    starts = np.concatenate([[0], np.flatnonzero(ends)[:-1] + 1])
    lengths = np.flatnonzero(ends) + 1 - starts
    if lengths.max() > task.max_episode_steps:
        k = int(np.argmax(lengths))
        raise BenchError(f"{where}: episode boundaries missing: episode {k} (from transition {starts[k]}) runs "
                         f"{lengths[k]} steps, longer than task '{task.name}''s horizon {task.max_episode_steps}")
    if "next_obs" in arrays:
        inside = np.flatnonzero(~ends[:-1])
        gap = np.abs(arrays["next_obs"][inside] - arrays["obs"][inside + 1]).max(axis=1)
        bad = inside[gap > 1e-5 * (1 + np.abs(arrays["obs"][inside + 1]).max(axis=1))]
        if len(bad):
            raise BenchError(f"{where}: episode boundaries missing: transition {bad[0]} is not marked as an "
                             f"episode's last, but its next observation is not the following transition's")


def episodes_of(arrays: dict, horizon: int) -> list[dict]:
    """Transition-major arrays -> episodes in envs.demos.rollout()'s layout (T + 1 observations). Without
    recorded terminals, an episode that ran the whole horizon was cut off, a shorter one terminated."""
    ends = np.flatnonzero(arrays["ends"])
    starts = np.concatenate([[0], ends[:-1] + 1])
    rewards = arrays.get("rewards")
    out = []
    for start, end in zip(starts, ends + 1):
        obs = arrays["obs"][start:end]
        # The final observation: the recorded next one, else (D4RL files without next_observations)
        # the last one repeated; BC-style methods never read it (pairs are obs[:-1] with actions).
        final = arrays["next_obs"][end - 1] if "next_obs" in arrays else obs[-1]
        length = end - start
        terminal = bool(arrays["terminals"][end - 1]) if "terminals" in arrays else length < horizon
        episode_rewards = rewards[start:end] if rewards is not None else np.zeros(length)
        terminations, truncations = np.zeros(length, dtype=bool), np.zeros(length, dtype=bool)
        (terminations if terminal else truncations)[-1] = True  # an episode not terminated was cut off
        out.append({"seed": None, "observations": np.vstack([obs, final[None]]).astype(np.float32),
                    "actions": arrays["actions"][start:end].astype(np.float32), "rewards": episode_rewards,
                    "terminations": terminations, "truncations": truncations,
                    "return": float(np.sum(episode_rewards))})
    return out


def import_dataset(task_name: str, entry, out_dir: Path, summary_path: Path, eval_env_kwargs: dict,
                   random_episodes: int = 20) -> dict:
    """The data stage for an imported dataset: read, check, convert, write the Minari layout and the
    summary (source path and sha256, reference scores and where they came from)."""
    task = envs.get_task(task_name)
    source = parse_source(task_name, entry)
    where = str(source.path)
    arrays, metadata = READERS[source.format](source)
    rebuilt = copied_next_obs(arrays) if source.format == "authors" else ""
    if rebuilt:
        print(f"{where}: next_obs {rebuilt}", flush=True)
    check(task, arrays, where)  # every check holds in either frame
    if source.frame == "d4rl":
        arrays = _rotate_from_d4rl(arrays)
    episodes = episodes_of(arrays, task.max_episode_steps)
    has_rewards = "rewards" in arrays
    refs = {**metadata, **{k: v for k, v in (("ref_min_score", source.ref_min_score),
                                              ("ref_max_score", source.ref_max_score)) if v is not None}}
    measured = []
    if "ref_min_score" not in refs:
        refs["ref_min_score"] = demos.random_policy_score(task, random_episodes)
        measured.append(f"ref_min_score: a random policy's mean return over {random_episodes} episodes")
    if "ref_max_score" not in refs:
        if task.metric == "success":
            refs["ref_max_score"] = 1.0
        elif has_rewards:
            refs["ref_max_score"] = float(np.mean([ep["return"] for ep in episodes]))
            measured.append("ref_max_score: the data's own mean episode return")
        else:
            raise BenchError(f"{where}: task '{task_name}' is scored by return and the file has no rewards; "
                             f"set 'ref_max_score' in config 'datasets.{task_name}'")
    source_sha256 = {str(path.relative_to(source.path) if path != source.path else path.name): sha256_file(path)
                     for path in source.files}
    env = task.make(**task.demo_kwargs)
    algorithm = f"imported ({source.format} file {source.path.name})"
    description = (f"{task_name} demonstrations imported from {source.path} ({source.format} format"
                   + (", rotated from D4RL's maze2d frame" if source.frame == "d4rl" else "") + ").")
    dataset_id = demos.write_dataset(task, episodes, out_dir, env, algorithm, description, refs["ref_min_score"],
                                     refs["ref_max_score"], eval_env_kwargs)
    env.close()
    statistics = demos.data_statistics(episodes, task.forward_velocity_obs)
    summary = {
        "statistics": statistics, "task": task_name, "metric": task.metric, "dataset_id": dataset_id,
        "dataset_dir": str(out_dir), "expert": algorithm, "expert_raw_success_rate": None,
        "expert_mean_return": statistics["return_mean"] if has_rewards else None,
        "episodes_attempted": len(episodes), "episodes_kept": len(episodes), "transitions": len(arrays["actions"]),
        "ref_min_score": refs["ref_min_score"], "ref_max_score": refs["ref_max_score"],
        "reference_scores_measured": measured, "rewards": "recorded" if has_rewards else "absent (stored as 0)",
        "final_observation": "recorded" if "next_obs" in arrays else "absent (last observation repeated)",
        **({"next_obs": rebuilt} if rebuilt else {}),
        "source": f"imported: {source.path}", "source_format": source.format, "source_frame": source.frame,
        "source_sha256": source_sha256, "files": shipped.file_hashes(out_dir), "provenance": provenance.record(),
    }
    write_json_atomic(summary_path, summary)
    print(f"{task_name}: imported {len(episodes)} episodes, {summary['transitions']} transitions from "
          f"{source.path} ({source.format}); references {refs['ref_min_score']:.2f} .. {refs['ref_max_score']:.2f}"
          + (f" (measured: {'; '.join(measured)})" if measured else ""), flush=True)
    return summary
