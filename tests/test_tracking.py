"""Optional TensorBoard tracking (dbc_bench/tracking.py): a finished run's training log and
evaluations become event files that TensorBoard reads back, and a bad setting is one line."""
from __future__ import annotations

from pathlib import Path

import pytest

from dbc_bench import tracking
from dbc_bench.errors import BenchError


def scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_finished_run_is_mirrored_to_tensorboard(tmp_path):
    (tmp_path / "train_log.csv").write_text("update,loss,lr\n10,0.5,1e-4\n20,0.25,5e-5\n")
    (tmp_path / "eval_curve.csv").write_text("update,episode,eval_seed,success,return,length\n"
                                             "10,0,7,0,1.0,50\n10,1,8,1,3.0,40\n20,0,7,1,5.0,30\n20,1,8,1,7.0,30\n")
    out = tracking.mirror(tmp_path)
    assert out == tmp_path / "tensorboard"
    found = scalars(out)
    assert found["train/loss"] == [(10, 0.5), (20, 0.25)]
    assert found["eval/success"] == [(10, 0.5), (20, 1.0)]
    assert found["eval/return"] == [(10, 2.0), (20, 6.0)]
    assert "train/update" not in found


def test_gail_logs_count_environment_steps(tmp_path):
    (tmp_path / "train_log.csv").write_text("env_steps,true_return,disc_loss\n8192,8.5,0.9\n16384,nan,0.8\n")
    (tmp_path / "eval_curve.csv").write_text("update,episode,eval_seed,success,return,length\n16384,0,7,0,9.0,50\n")
    found = scalars(tracking.mirror(tmp_path))
    assert found["train/true_return"] == [(8192, 8.5)]  # NaN (no finished episode) is left out
    assert found["train/disc_loss"] == [(8192, pytest.approx(0.9)), (16384, pytest.approx(0.8))]


def test_bad_settings_and_unfinished_runs_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv(tracking.VARIABLE, "wandb")
    with pytest.raises(BenchError, match="DBC_TRACKING='wandb': choose from none, tensorboard"):
        tracking.selected()
    with pytest.raises(BenchError, match="no train_log.csv; only a finished run"):
        tracking.mirror(tmp_path)
    assert tracking.main([str(tmp_path)]) == 1


def test_readme_commands_mirror_the_shipped_runs(tmp_path):
    """docs/extending.md's `python -m dbc_bench.tracking results/default/runs`, on a copy of two shipped runs;
    `tensorboard` (the viewer it names) is installed."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    for run in ("maze/bc/seed1", "walker/gail/seed1"):
        shutil.copytree(ROOT / "results/default/runs" / run, tmp_path / run, ignore=shutil.ignore_patterns("*.pt"))
    done = subprocess.run([sys.executable, "-m", "dbc_bench.tracking", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    for run in ("maze/bc/seed1", "walker/gail/seed1"):
        found = scalars(tmp_path / run / "tensorboard")
        assert len(found["eval/success"]) == 5 and ("train/loss" in found or "train/disc_loss" in found)
    viewer = subprocess.run([str(Path(sys.executable).parent / "tensorboard"), "--version_tb"], capture_output=True,
                            text=True)
    assert viewer.returncode == 0 and viewer.stdout.strip()
