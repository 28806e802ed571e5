"""Demonstrations from outside the suite (envs/importing.py): each format round-trips into the suite's
Minari layout, maze data in D4RL's frame rotates into the suite's, and every bad file is one line
naming the file and what is wrong."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import envs
from dbc_bench.errors import BenchError
from dbc_bench.io import read_json
from envs import demos, importing
from methods.core import load_demonstrations


def random_episodes(task_name: str, count: int, steps: int | None = None) -> list[dict]:
    """A few episodes of random actions in the task's env (rollout()'s layout), optionally cut short."""
    task = envs.get_task(task_name)
    env = task.make()
    env.action_space.seed(0)
    out = []
    for i in range(count):
        episode = demos.rollout(env, lambda _: env.action_space.sample(), seed=100 + i)
        if steps is not None and len(episode["actions"]) > steps:
            for key in ("actions", "rewards", "terminations", "truncations"):
                episode[key] = episode[key][:steps]
            episode["observations"] = episode["observations"][: steps + 1]
            episode["truncations"][-1] = True
        out.append(episode)
    env.close()
    return out


def flat(episodes: list[dict]) -> dict:
    """Transition-major arrays of the episodes (obs, next_obs, actions, rewards, done)."""
    return {"obs": np.concatenate([ep["observations"][:-1] for ep in episodes]),
            "next_obs": np.concatenate([ep["observations"][1:] for ep in episodes]),
            "actions": np.concatenate([ep["actions"] for ep in episodes]),
            "rewards": np.concatenate([ep["rewards"] for ep in episodes]),
            "done": np.concatenate([np.eye(1, len(ep["actions"]), len(ep["actions"]) - 1)[0] for ep in episodes])}


def write_authors(path, arrays: dict, **changes) -> str:
    data = {key: torch.as_tensor(arrays[key], dtype=torch.float32) for key in ("obs", "next_obs", "actions", "done")}
    data.update(changes)
    torch.save(data, path)
    return str(path)


def write_d4rl(path, arrays: dict, drop: tuple[str, ...] = (), **changes) -> str:
    done = arrays["done"].astype(bool)
    fields = {"observations": arrays["obs"], "actions": arrays["actions"], "rewards": arrays["rewards"],
              "terminals": np.zeros_like(done), "timeouts": done, "next_observations": arrays["next_obs"]}
    fields.update(changes)
    with h5py.File(path, "w") as f:
        for key, value in fields.items():
            if key not in drop:
                f[key] = value
    return str(path)


@pytest.fixture(scope="module")
def maze_data():
    episodes = random_episodes("maze", 3, steps=40)
    return episodes, flat(episodes)


def imported(tmp_path, entry, task="maze"):
    out, summary = tmp_path / "dataset", tmp_path / "summary.json"
    importing.import_dataset(task, entry, out, summary, {}, random_episodes=2)
    return load_demonstrations(out, normalize=False), read_json(summary)


def pairs(data):
    return data.obs_norm.inverse(data.obs).numpy(), data.act_norm.inverse(data.act).numpy()


@pytest.mark.parametrize("fmt", ["authors", "d4rl", "minari"])
def test_each_format_imports_the_same_pairs(tmp_path, maze_data, fmt):
    episodes, arrays = maze_data
    if fmt == "authors":
        source = write_authors(tmp_path / "demos.pt", arrays)
    elif fmt == "d4rl":
        source = write_d4rl(tmp_path / "demos.hdf5", arrays)
    else:
        env = envs.get_task("maze").make()
        demos.write_dataset(envs.get_task("maze"), episodes, tmp_path / "theirs", env, "random", "test", 0.0, 1.0, {})
        env.close()
        source = str(tmp_path / "theirs")
    data, summary = imported(tmp_path, source)
    obs, act = pairs(data)
    np.testing.assert_allclose(obs, arrays["obs"], atol=1e-5)
    np.testing.assert_allclose(act, arrays["actions"], atol=1e-6)
    assert data.n_episodes == 3 and summary["transitions"] == 120
    assert summary["source_format"] == fmt and summary["source"].startswith("imported: ")
    assert all(len(digest) == 64 for digest in summary["source_sha256"].values())
    assert summary["provenance"]["versions"]["torch"] == torch.__version__
    if fmt == "minari":  # the dataset's own reference scores are kept
        assert (summary["ref_min_score"], summary["ref_max_score"]) == (0.0, 1.0)
        assert summary["reference_scores_measured"] == []
    else:  # measured: a random policy's return; a success task's maximum is 1
        assert summary["ref_max_score"] == 1.0 and len(summary["reference_scores_measured"]) == 1


def test_maze_data_in_d4rl_frame_rotates_into_the_suites(tmp_path, maze_data):
    _, arrays = maze_data

    def to_d4rl(o):  # the inverse of the documented rotation
        out = np.empty_like(o)
        out[:, 0], out[:, 1] = 3.5 - o[:, 1], o[:, 0] + 3.5
        out[:, 2], out[:, 3] = -o[:, 3], o[:, 2]
        out[:, 4], out[:, 5] = 3.5 - o[:, 5], o[:, 4] + 3.5
        return out

    d4rl = {**arrays, "obs": to_d4rl(arrays["obs"]), "next_obs": to_d4rl(arrays["next_obs"]),
            "actions": np.stack([-arrays["actions"][:, 1], arrays["actions"][:, 0]], axis=1)}
    exported = importing.rotate_to_d4rl(arrays)  # what wrote the shipped example file
    for key in ("obs", "next_obs", "actions"):
        np.testing.assert_array_equal(exported[key], d4rl[key])
    data, summary = imported(tmp_path, {"path": write_authors(tmp_path / "d4rl.pt", d4rl), "frame": "d4rl"})
    obs, act = pairs(data)
    np.testing.assert_allclose(obs, arrays["obs"], atol=1e-5)
    np.testing.assert_allclose(act, arrays["actions"], atol=1e-6)
    assert summary["source_frame"] == "d4rl"


def test_a_return_task_without_rewards_needs_its_reference(tmp_path):
    arrays = flat(random_episodes("walker", 1, steps=30))
    source = write_authors(tmp_path / "walker.pt", arrays)
    with pytest.raises(BenchError, match="no rewards; set 'ref_max_score'"):
        imported(tmp_path, source, task="walker")
    _, summary = imported(tmp_path, {"path": source, "ref_max_score": 5000.0}, task="walker")
    assert summary["ref_max_score"] == 5000.0 and summary["rewards"] == "absent (stored as 0)"
    # A D4RL file's rewards give the data's own mean return.
    _, summary = imported(tmp_path, write_d4rl(tmp_path / "walker.hdf5", arrays), task="walker")
    assert summary["ref_max_score"] == pytest.approx(arrays["rewards"].sum())


BAD_AUTHORS = {
    "missing key": (lambda a: {"drop": "done"}, "missing key 'done'"),
    "integer data": (lambda a: {"actions": torch.zeros(len(a["actions"]), 2, dtype=torch.int64)},
                     "'actions' must hold floats"),
    "wrong width": (lambda a: {"obs": torch.zeros(len(a["obs"]), 5)}, r"'obs' has shape \[120, 5\]; .*\[N, 6\]"),
    "nan": (lambda a: {"actions": torch.tensor(np.where(np.arange(120)[:, None] == 7, np.nan, a["actions"]),
                                               dtype=torch.float32)},
            "'actions' holds NaN or inf \\(first at transition 7\\)"),
    "no final boundary": (lambda a: {"done": torch.zeros(120)}, "the last transition \\(119\\) ends no episode"),
    "lengths differ": (lambda a: {"obs": torch.zeros(119, 6)}, "'obs' has 119 entries for 120 actions"),
    "boundary missing inside": (lambda a: {"done": torch.tensor(np.eye(1, 120, 119)[0], dtype=torch.float32)},
                                "transition 39 is not marked as an episode's last"),
    "flags not 0/1": (lambda a: {"done": torch.full((120,), 0.5)}, "'done' must hold only 0 and 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_AUTHORS))
def test_a_bad_authors_file_is_one_line_naming_it(tmp_path, maze_data, case):
    _, arrays = maze_data
    change, message = BAD_AUTHORS[case]
    changes = change(arrays)
    data = {key: torch.as_tensor(arrays[key], dtype=torch.float32) for key in ("obs", "next_obs", "actions", "done")}
    data.pop(changes.pop("drop", None), None)
    data.update(changes)
    torch.save(data, tmp_path / "bad.pt")
    with pytest.raises(BenchError, match=message) as error:
        imported(tmp_path, str(tmp_path / "bad.pt"))
    assert str(tmp_path / "bad.pt") in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "dataset").exists()  # nothing half-written


def test_a_bad_d4rl_file_is_named(tmp_path, maze_data):
    _, arrays = maze_data
    with pytest.raises(BenchError, match="missing key 'timeouts'"):
        imported(tmp_path, write_d4rl(tmp_path / "a.hdf5", arrays, drop=("timeouts",)))
    long = {**arrays, "obs": np.repeat(arrays["obs"], 4, 0), "actions": np.repeat(arrays["actions"], 4, 0),
            "rewards": np.repeat(arrays["rewards"], 4, 0), "next_obs": np.repeat(arrays["obs"], 4, 0),
            "done": np.eye(1, 480, 479)[0]}
    with pytest.raises(BenchError, match="runs 480 steps, longer than task 'maze''s horizon 400"):
        imported(tmp_path, write_d4rl(tmp_path / "b.hdf5", long, drop=("next_observations",)))
    (tmp_path / "c.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(BenchError, match="cannot read as HDF5"):
        imported(tmp_path, str(tmp_path / "c.hdf5"))


def test_bad_entries_are_named(tmp_path):
    (tmp_path / "x.csv").write_text("")
    for entry, message in [({"path": str(tmp_path / "nope.pt")}, "no file or folder"),
                           (str(tmp_path / "x.csv"), "cannot tell the format"),
                           ({"path": str(tmp_path / "x.csv"), "fromat": "d4rl"}, "unknown key 'fromat'"),
                           ({"path": str(tmp_path / "x.csv"), "format": "d4rl", "frame": "d4rl"}, "maze data only")]:
        with pytest.raises(BenchError, match=message):
            importing.parse_source("walker", entry)


def test_the_authors_files_with_next_obs_copied_from_obs_import(tmp_path):
    """The authors' walker and halfcheetah files: episodes of the horizon, done at each last step, and
    next_obs equal to obs in every row. They import, the next observations rebuilt within each episode;
    the pairs are the file's."""
    arrays = flat(random_episodes("walker", 2, steps=30))
    source = write_authors(tmp_path / "walker_authors.pt", {**arrays, "next_obs": arrays["obs"]})
    data, summary = imported(tmp_path, {"path": source, "ref_max_score": 1000.0}, task="walker")
    obs, act = pairs(data)
    np.testing.assert_allclose(obs, arrays["obs"], atol=1e-4)
    np.testing.assert_allclose(act, arrays["actions"], atol=1e-6)
    n = len(arrays["actions"])  # random actions: walker may fall before 30 steps
    assert data.n_episodes == 2 and summary["transitions"] == n
    assert summary["next_obs"] == ("a copy of obs in every row: rebuilt from the following observation within "
                                   "each episode")
    assert summary["final_observation"] == "absent (last observation repeated)"
    # Without next_obs at all: the same pairs.
    torch.save({key: torch.as_tensor(arrays[key], dtype=torch.float32) for key in ("obs", "actions", "done")},
               tmp_path / "no_next.pt")
    data, summary = imported(tmp_path, {"path": str(tmp_path / "no_next.pt"), "ref_max_score": 1000.0}, task="walker")
    assert summary["next_obs"].startswith("absent") and summary["transitions"] == n
    # next_obs that is recorded but disagrees inside an episode is still refused.
    wrong = {**arrays, "next_obs": arrays["next_obs"] + np.eye(1, n, 5).T}
    with pytest.raises(BenchError, match="transition 5 is not marked as an episode's last"):
        imported(tmp_path, {"path": write_authors(tmp_path / "wrong.pt", wrong), "ref_max_score": 1000.0},
                 task="walker")
