"""Expert data as Minari datasets, loading checks, and the evaluation protocol."""
import json
import shutil
import warnings

import h5py
import minari
import numpy as np
import pytest

import envs
from dbc_bench import seeds as seed_ranges
from dbc_bench.errors import BenchError
from envs.demos import collect, dataset_requirements
from envs.evaluation import run_episodes
from methods.core import load_demonstrations


def copy_dataset(src, dest):
    """A writable copy of a Minari dataset directory, to damage."""
    shutil.copytree(src / "data", dest / "data")
    return dest


@pytest.fixture(scope="module")
def maze_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    out, summary = root / "dbc" / "maze" / "expert-v0", root / "maze.json"
    collect("maze", out, summary, episodes=3, transitions=None, expert_seed=0, random_episodes=2)
    return out, json.loads(summary.read_text())


def test_dataset_has_metadata_and_recovers_its_env(maze_dataset):
    path, summary = maze_dataset
    assert summary["episodes_kept"] == 3 and summary["expert_raw_success_rate"] > 0
    assert summary["metric"] == "success" and summary["ref_max_score"] == 1.0
    dataset = minari.MinariDataset(path / "data")
    assert dataset.total_episodes == 3 and dataset.total_steps == summary["transitions"]
    meta = dataset.storage.metadata
    assert "waypoint controller" in meta["algorithm_name"] and "expert raw success" in meta["description"].lower()
    assert meta["ref_min_score"] == summary["ref_min_score"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Minari warns of a requirement that is missing or of another version
        env = dataset.recover_environment()
    assert env.spec.id == "DBC/Maze-v0" and env.observation_space.shape == (6,)
    assert meta["requirements"] == dataset_requirements()
    packages = {r.split("==")[0] for r in meta["requirements"]}
    assert packages == {"dbc-bench", "gymnasium", "gymnasium-robotics", "mujoco"}
    assert "code_permalink" not in meta or meta["code_permalink"].startswith("https://")  # never a bare path
    assert not list(path.parent.glob(".staging*"))  # built aside, renamed into place


def test_load_demonstrations_shapes_and_zscore(maze_dataset):
    data = load_demonstrations(maze_dataset[0], obs_dim=6, act_dim=2)
    assert data.obs.shape == (maze_dataset[1]["transitions"], 6) and data.act.shape[1] == 2
    assert np.allclose(data.act.mean(0).numpy(), 0, atol=1e-4)


def test_without_normalisation_the_data_stay_raw(maze_dataset):
    """`normalize: false` (the authors' maze IBC and Diffusion Policy): identity normalisers."""
    raw = load_demonstrations(maze_dataset[0], 6, 2, normalize=False)
    first = minari.MinariDataset(maze_dataset[0] / "data")[0]
    assert np.array_equal(raw.obs[0].numpy(), first.observations[0]) and np.array_equal(raw.act[0].numpy(),
                                                                                         first.actions[0])
    assert float(raw.act_norm.std.min()) == 1.0 and float(raw.obs_norm.mean.abs().max()) == 0.0


def test_mismatched_dataset_is_refused(maze_dataset):
    with pytest.raises(BenchError, match="observations have 6 dimensions, the task needs 16"):
        load_demonstrations(maze_dataset[0], obs_dim=16, act_dim=4)


def test_corrupt_and_missing_datasets_are_named(tmp_path, maze_dataset):
    with pytest.raises(BenchError, match="not a Minari dataset directory"):
        load_demonstrations(tmp_path)
    broken = copy_dataset(maze_dataset[0], tmp_path / "broken")
    h5 = broken / "data" / "main_data.hdf5"
    h5.write_bytes(h5.read_bytes()[:2000])  # truncated
    with pytest.raises(BenchError, match="broken: cannot read Minari dataset"):
        load_demonstrations(broken)


def test_nan_in_data_is_refused(tmp_path, maze_dataset):
    copy = copy_dataset(maze_dataset[0], tmp_path / "nan")
    with h5py.File(copy / "data" / "main_data.hdf5", "r+") as h:
        obs = h["episode_0"]["observations"]
        obs[1, 0] = np.nan
    with pytest.raises(BenchError, match="observations contain NaN or inf"):
        load_demonstrations(copy)


def test_misaligned_episodes_are_refused(tmp_path, maze_dataset):
    copy = copy_dataset(maze_dataset[0], tmp_path / "short")
    with h5py.File(copy / "data" / "main_data.hdf5", "r+") as h:
        obs = h["episode_1"]["observations"][()]
        del h["episode_1"]["observations"]
        h["episode_1"]["observations"] = obs[:-2]  # one observation fewer than actions
    with pytest.raises(BenchError, match=r"episode 1 has \d+ observations for \d+ actions .*misaligned"):
        load_demonstrations(copy)


def toward_goal(obs: np.ndarray) -> np.ndarray:
    return np.clip(3.0 * (obs[:, 4:6] - obs[:, 0:2]) - obs[:, 2:4], -1, 1)


def test_evaluation_is_independent_of_env_count():
    seeds = seed_ranges.eval_seeds(4)
    assert seeds[0] == seed_ranges.EVAL
    one = run_episodes(toward_goal, "maze", seeds, num_envs=1)
    three = run_episodes(toward_goal, "maze", seeds, num_envs=3)
    assert one == three
    assert [r["eval_seed"] for r in one] == seeds
    assert all(r["length"] <= envs.get_task("maze").max_episode_steps for r in one)
    assert all((r["success"] == 1) == (r["length"] < 400) for r in one)
