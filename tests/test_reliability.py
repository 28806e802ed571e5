"""Determinism and resume (issue 7): same config and seed give identical data, checkpoints and
episodes; a training job killed with SIGKILL resumes and ends exactly where an uninterrupted run does."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import collect_dataset

from envs.demos import collect

ROOT = Path(__file__).resolve().parents[1]


def hyperparameters(epochs: int) -> dict:
    return {"hidden": [64, 64], "lr": 1.0e-3, "epochs": epochs, "batch_size": 32}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    collect_dataset("maze", root / "a", root / "a.json", episodes=3, transitions=None, expert_seed=0, random_episodes=1)
    return root


def train_cmd(dataset: Path, config: dict, run_dir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "workflow/scripts/train_policy.py"), "--task", "maze", "--method", "bc",
            "--seed", "3", "--budget", "test", "--hyperparameters", json.dumps(config), "--dataset", str(dataset / "a"),
            "--summary", str(dataset / "a.json"), "--run-dir", str(run_dir), "--eval-episodes", "3",
            "--eval-envs", "3", "--eval-points", "4", "--checkpoint-seconds", "0.2", "--device", "cpu"]


def test_collection_is_deterministic(dataset, tmp_path):
    collect("maze", tmp_path / "b", tmp_path / "b.json", episodes=3, transitions=None, expert_seed=0,
            random_episodes=1)
    with h5py.File(dataset / "a/data/main_data.hdf5") as a, h5py.File(tmp_path / "b/data/main_data.hdf5") as b:
        for ep in a:
            for key in ("observations", "actions", "rewards"):
                np.testing.assert_array_equal(a[ep][key][()], b[ep][key][()])


def read_model(run_dir: Path) -> dict:
    return torch.load(run_dir / "model.pt", weights_only=True)["agent"]


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_result(dataset, tmp_path):
    config = hyperparameters(epochs=300)
    reference = tmp_path / "reference"
    subprocess.run(train_cmd(dataset, config, reference), check=True, capture_output=True, timeout=600)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(train_cmd(dataset, config, killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / "state.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (killed / "state.pt").exists(), "no checkpoint was written before the kill"
    assert not (killed / "eval_final.csv").exists(), "the run finished before it could be killed"

    resumed = subprocess.run(train_cmd(dataset, config, killed), check=True, capture_output=True, text=True,
                             timeout=600)
    assert "resuming from" in resumed.stdout
    assert (killed / "eval_final.csv").read_text() == (reference / "eval_final.csv").read_text()
    assert (killed / "eval_curve.csv").read_text() == (reference / "eval_curve.csv").read_text()
    ref_model, got_model = read_model(reference), read_model(killed)
    assert all(torch.equal(ref_model[k], got_model[k]) for k in ref_model)
    assert not (killed / "state.pt").exists()


@pytest.mark.slow
def test_state_of_another_config_is_not_resumed(dataset, tmp_path):
    run_dir = tmp_path / "run"
    small = hyperparameters(epochs=30)
    subprocess.run(train_cmd(dataset, small, run_dir), check=True, capture_output=True, timeout=600)
    # Leave a resumable state behind, then change the config: the old state must be ignored.
    state = {"fingerprint": "something else", "update": 5}
    torch.save(state, run_dir / "state.pt")
    other = hyperparameters(epochs=31)
    out = subprocess.run(train_cmd(dataset, other, run_dir), check=True, capture_output=True, text=True,
                         timeout=600)
    assert "starting afresh" in out.stdout and "resuming" not in out.stdout


def test_evaluation_jobs_draw_from_rngs_seeded_by_the_run(tmp_path, monkeypatch):
    # Implicit BC's DFO candidates and a diffusion policy's noise come from the global RNGs: the
    # generalisation, latency and video jobs (evaluate_policy.py) must seed them, or rerunning the same
    # job gives other episodes. Each job here records the draws it would make first.
    from workflow.scripts import evaluate_policy as script

    draws = []
    record = lambda *args, **kwargs: draws.append((torch.rand(3).tolist(), np.random.rand()))  # noqa: E731
    for name in ("evaluate_run", "measure_latency", "record_videos"):
        monkeypatch.setattr(script.jobs, name, record)

    def job(seed: int, *what: str) -> tuple:
        run_dir = tmp_path / f"seed{seed}"
        run_dir.mkdir(exist_ok=True)
        (run_dir / "run.json").write_text(json.dumps({"seed": seed}))
        assert script.main(["--run-dir", str(run_dir), *what]) == 0
        return draws[-1]

    for what in (["--out", "x.csv"], ["--latency-out", "x.json"], ["--videos-out", "videos"]):
        first = job(1, *what)
        torch.rand(5), np.random.rand(5)  # whatever ran before in the process
        assert job(1, *what) == first
        assert job(2, *what) != first
