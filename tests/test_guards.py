"""Guards that keep user runs off the committed results and refuse what changed behind the pipeline's back
(issue 30, cases 1-4): runs on other data get folders of their own; a dataset edited after the data stage,
a committed run edited after it finished, and a job whose packages come from another checkout are each
refused with one line, before anything is written or run."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from conftest import ROOT, collect_dataset, copy_workflow, snakemake

from analysis.reference import check_shipped_runs
from dbc_bench import codehash
from dbc_bench.errors import BenchError
from dbc_bench.io import DIGEST_FILE, check_digest, write_digest_atomic
from methods.jobs import RESULT_FILES

MY_DATA = ("--configfile", "examples/my_data.yaml", "--config", "tasks=[maze]", "seeds=[1]", "methods=[bc]")


def planned_paths(stdout: str) -> set[str]:
    """Every output, log and benchmark path of a dry run's jobs."""
    paths = set()
    for line in stdout.splitlines():
        match = re.match(r"\s+(output|log|benchmark): (.*)", line)
        if match:
            paths.update(path.strip() for path in match.group(2).split(","))
    return paths


@pytest.fixture(scope="module")
def default_copy(tmp_path_factory):
    """A workflow copy with the committed default results and the examples."""
    work = tmp_path_factory.mktemp("guards")
    env = copy_workflow(work)
    for part in ("examples", "results/default", "paper/default"):
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("*.pt", "__pycache__"))
    shutil.copy(ROOT / "examples/maze_demos_d4rl.pt", work / "examples/maze_demos_d4rl.pt")
    return work, env


# ------------------------------------------------------------------------------ 1: own folders


@pytest.mark.slow
def test_the_readme_data_example_plans_nothing_in_the_committed_folders(default_copy):
    work, env = default_copy
    proc = snakemake(work, env, "-n", "all", *MY_DATA)
    assert proc.returncode == 0, proc.stderr[-2000:]
    paths = planned_paths(proc.stdout)
    assert paths and all(p.startswith(("results/default-custom/", "paper/default-custom/")) for p in paths), \
        sorted(p for p in paths if "-custom/" not in p)
    assert "results go to results/default-custom/ and paper/default-custom/ (datasets)" in proc.stderr
    # A label names the folders; the suite's own data and methods keep results/<budget>/.
    proc = snakemake(work, env, "-n", "all", *MY_DATA, "label=mine")
    assert proc.returncode == 0 and all("default-mine/" in p for p in planned_paths(proc.stdout))
    proc = snakemake(work, env, "-n", "all", "--config", "tasks=[maze]", "seeds=[1]", "methods=[bc]")
    assert proc.returncode == 0 and not any("-custom" in p for p in planned_paths(proc.stdout))


def test_a_label_is_checked(default_copy):
    work, env = default_copy
    proc = snakemake(work, env, "-n", "all", "--config", "label=../default")
    assert proc.returncode != 0 and "label" in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------ 2: dataset bytes


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    collect_dataset("maze", root / "a", root / "a.json", episodes=2, transitions=None, expert_seed=0, random_episodes=0)
    return root


def flip_one_action(dataset: Path) -> None:
    with h5py.File(dataset / "data/main_data.hdf5", "r+") as f:
        actions = f["episode_0/actions"]
        actions[0, 0] = -actions[0, 0] + 0.5


@pytest.mark.parametrize("script, extra", [
    ("train_policy.py", ["--method", "bc", "--seed", "1", "--run-dir", "{out}",
                         "--hyperparameters", json.dumps({"hidden": [8], "epochs": 1, "batch_size": 32})]),
    ("pretrain.py", ["--stage", "diffusion_model", "--out-dir", "{out}",
                     "--hyperparameters", json.dumps({"hidden": [8], "epochs": 1})]),
    ("pretrain.py", ["--stage", "ebm_model", "--out-dir", "{out}", "--hyperparameters", json.dumps({"epochs": 1})]),
])
def test_a_dataset_edited_after_the_data_stage_is_refused(small_dataset, tmp_path, script, extra):
    data = tmp_path / "a"
    shutil.copytree(small_dataset / "a", data)
    flip_one_action(data)
    out = tmp_path / "out"
    args = [arg.replace("{out}", str(out)) for arg in extra]
    proc = subprocess.run([sys.executable, str(ROOT / "workflow/scripts" / script), "--task", "maze", *args,
                           "--dataset", str(data), "--summary", str(small_dataset / "a.json"), "--device", "cpu"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert proc.stderr.strip() == (f"error: {data}/data/main_data.hdf5: its sha256 is not the one "
                                   f"{small_dataset / 'a.json'} records (the dataset changed after the data stage "
                                   f"wrote it); delete {data} and rerun, and the data stage rebuilds it")
    assert not out.exists()  # nothing was trained or written


def test_the_training_rules_hand_the_jobs_the_data_summary(default_copy):
    work, env = default_copy
    proc = snakemake(work, env, "-n", "-p", "all", "--config", "tasks=[maze]", "seeds=[1]", "methods=[dbc]",
                     "--forcerun", "pretrain_dm", "train")
    assert proc.returncode == 0, proc.stderr[-2000:]
    commands = [line for line in proc.stdout.splitlines() if "train_policy.py" in line or "pretrain.py" in line]
    assert len(commands) == 2
    assert all("--summary results/default/data/maze.json" in line for line in commands)


# ------------------------------------------------------------------------------ 3: run digests


def test_every_committed_run_matches_its_digest():
    runs = sorted((ROOT / "results/default/runs").rglob("eval_final.csv"))
    assert runs
    for marker in runs:
        check_digest(marker.parent)


def test_an_edited_shipped_run_is_refused(default_copy, tmp_path):
    work, env = default_copy
    run = work / "results/default/runs/maze/dbc/seed1"
    final = run / "eval_final.csv"
    original = final.read_text()
    lines = original.splitlines(keepends=True)
    try:
        final.write_text("".join(lines[:1] + [re.sub(r",1,", ",0,", row, count=1) for row in lines[1:21]]
                                 + lines[21:]))
        assert final.read_text() != original
        proc = snakemake(work, env, "-n", "all", "--config", "tasks=[maze]", "seeds=[1]", "methods=[bc]",
                         "reference=shipped", "reference_methods=[dbc]")
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines()[-1] == (
            "error: config 'reference: shipped': results/default/runs/maze/dbc/seed1/eval_final.csv: changed "
            "since the run finished (its sha256 is not the one digest.json records); restore it (git checkout "
            "-- results/default/runs/maze/dbc/seed1/eval_final.csv) or rerun the run")
    finally:
        final.write_text(original)
    check_digest(run)  # restored: accepted again


def test_a_run_without_a_digest_is_refused(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(ROOT / "results/default/runs/maze/bc/seed1", run, ignore=shutil.ignore_patterns("*.pt"))
    (run / DIGEST_FILE).unlink()
    with pytest.raises(BenchError, match="digest.json missing"):
        check_shipped_runs([run], {"maze": {}})


def test_the_digest_covers_every_result_file(tmp_path):
    for name in RESULT_FILES:
        (tmp_path / name).write_text(name)
    write_digest_atomic(tmp_path, RESULT_FILES, {"eval_final.csv": "a,b\n1,2\n"})
    (tmp_path / "eval_final.csv").write_text("a,b\n1,2\n")
    check_digest(tmp_path)
    for name in (*RESULT_FILES, "eval_final.csv"):
        kept = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(kept + b" ")
        with pytest.raises(BenchError, match=f"{name}: changed since the run finished"):
            check_digest(tmp_path)
        (tmp_path / name).write_bytes(kept)


# ------------------------------------------------------------------------------ 4: another checkout's code


def test_a_job_refuses_packages_imported_from_another_checkout(tmp_path):
    """A virtualenv installed from another checkout: here PYTHONPATH points Python at it. The job stops at its
    first import of the suite, before the other checkout's code (which would leave a marker) runs."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "Snakefile").write_text("")
    for package in codehash.PACKAGES:
        shutil.copytree(ROOT / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "ran"
    init = other / "methods/__init__.py"
    init.write_text(f"open({str(marker)!r}, 'w').close()\n" + init.read_text())
    proc = subprocess.run([sys.executable, str(ROOT / "workflow/scripts/train_policy.py"), "--help"],
                          capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(other), "PATH": "/usr/bin"})
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"error: {ROOT}/workflow/scripts/train_policy.py is the checkout {ROOT}'s, but Python imported dbc_bench "
        f"from {other}/dbc_bench/__init__.py, another checkout's (its virtual environment is installed from "
        f"there); run ./setup.sh in {ROOT} and use its .venv")
    assert not marker.exists()
    # The same job on its own checkout's packages runs.
    proc = subprocess.run([sys.executable, str(ROOT / "workflow/scripts/train_policy.py"), "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ------------------------------------------------------------------------------ 10: schema errors


@pytest.mark.parametrize("overrides, line", [
    ({"seeds": [-1]}, "config 'seeds[0]': -1 is less than the minimum of 1"),
    ({"methods": []}, "config 'methods': [] should be non-empty"),
    ({"budget": "nosuch"}, "config 'budget': 'nosuch' is not allowed; choose from smoke, default, paper"),
    ({"device": "tpu"}, "config 'device': 'tpu' is not allowed (choose from auto (a GPU when present), cpu, "
                        "cuda, cuda:<index>)"),
    ({"budgte": "smoke"}, "config: unknown key 'budgte'; choose from budget, label, tasks, methods, "),
])
def test_a_schema_error_is_one_line_naming_the_key(at_root, overrides, line):
    from pipeline import plan

    with pytest.raises(BenchError) as caught:
        plan.build(overrides)
    assert str(caught.value).startswith(line) and "\n" not in str(caught.value)


def test_a_schema_error_through_the_snakefile_is_one_line(default_copy):
    work, env = default_copy
    proc = snakemake(work, env, "-n", "all", "--config", "seeds=[-1]")
    assert proc.returncode == 1
    errors = [text for text in (proc.stdout + proc.stderr).splitlines() if text.startswith("error")]
    assert errors == ["error: config 'seeds[0]': -1 is less than the minimum of 1"], proc.stderr[-2000:]
    assert len((proc.stdout + proc.stderr).splitlines()) <= 3  # no schema dump: snakemake's two notes and the line


def test_a_budget_takes_the_evaluation_protocol_defaults_from_one_place(workflow_copy):
    from envs.evaluation import Evaluation

    work, env = workflow_copy
    smoke = work / "config/budgets/smoke.yaml"
    smoke.write_text(smoke.read_text().replace("evaluation: {episodes: 4, num_envs: 2, points: 2}",
                                               "evaluation: {episodes: 4}"))
    proc = snakemake(work, env, "-n", "-p", "all", "--config", "budget=smoke", "tasks=[maze]", "methods=[bc]",
                     "seeds=[1]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    train = [line for line in proc.stdout.splitlines() if "train_policy.py" in line]
    assert len(train) == 1
    assert f"--eval-episodes 4 --eval-envs {Evaluation.num_envs} --eval-points {Evaluation.points} " in train[0]


def test_a_typo_in_a_budget_file_key_is_one_line(default_copy):
    work, env = default_copy
    budget = work / "config/budgets/smoke.yaml"
    original = budget.read_text()
    try:
        budget.write_text(original + "evalution: {episodes: 3}\n")
        proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke")
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines()[-1].startswith(
            "error: config/budgets/smoke.yaml: unknown key 'evalution'; choose from description, data, evaluation")
    finally:
        budget.write_text(original)


# ------------------------------------------------------------------------------ 7: disk full, unwritable folders


def test_a_full_disk_during_torch_save_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import torch

    from dbc_bench.io import save_torch_atomic

    target = tmp_path / "model.pt"
    target.write_bytes(b"finished work")

    def full(obj, f, *args, **kwargs):  # what torch's writer raises when the disk fills up
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 2816 vs 2710")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(BenchError) as err:
        save_torch_atomic({"w": 1}, target)
    assert str(err.value) == (f"{target}: cannot write (torch.save failed: [enforce fail at inline_container.cc:664] "
                              f". unexpected pos 2816 vs 2710)")
    assert target.read_bytes() == b"finished work" and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_a_full_disk_during_the_data_import_is_one_line_and_leaves_no_staging(tmp_path, monkeypatch):
    import errno

    import minari

    from envs import importing
    from tests.test_importing import flat, random_episodes, write_authors

    source = write_authors(tmp_path / "demos.pt", flat(random_episodes("maze", 2, steps=20)))

    def full(*args, **kwargs):  # as h5py fails on a full disk, after Minari made its staging folder
        Path(os.environ["MINARI_DATASETS_PATH"], "dbc").mkdir(parents=True)  # the staging root Minari got
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(minari, "create_dataset_from_buffers", full)
    out = tmp_path / "data" / "dataset"
    with pytest.raises(BenchError) as err:
        importing.import_dataset("maze", source, out, tmp_path / "summary.json", {}, random_episodes=1)
    assert str(err.value) == f"{out}: cannot write the dataset (No space left on device)"
    assert not out.exists()
    assert not out.parent.exists() or not [p for p in out.parent.iterdir() if p.name.startswith(".staging")]
    assert not (tmp_path / "summary.json").exists()


def test_an_unwritable_output_folder_is_one_line_before_any_job(default_copy):
    work, env = default_copy
    (work / "paper" / "smoke").write_text("a file where the report folder belongs")
    try:
        proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke", "tasks=[maze]")
        assert proc.returncode == 1
        assert proc.stderr.strip().splitlines()[-1] == (
            "error: output folder: paper/smoke: cannot write here (paper/smoke is a file, not a folder)")
    finally:
        (work / "paper" / "smoke").unlink()


# ------------------------------------------------------------------------------ 11: one name per run


def test_one_run_under_two_spellings_trains_once(default_copy):
    from tests.test_pipeline import planned_runs

    work, env = default_copy
    proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke", "tasks=[maze]", "seeds=[1]",
                     "methods=[dbc@lambda_dm=0.5,dbc@lambda_dm=0.50,dbc@lambda_dm=.5]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert planned_runs(proc) == {("maze", "dbc@lambda_dm=0.5", "1")}


@pytest.mark.slow
def test_smaller_bad_inputs_are_one_line(default_copy, tmp_path):
    """An env argument of the wrong type, a task name that cannot name folders, an HDF5 group where an array
    belongs, a method file named like a module the suite imports."""
    import h5py

    import envs
    from envs import importing
    from methods import registry

    with pytest.raises(BenchError, match=r"task 'fetch_pick': env argument noise_ratio must be a float \(like its "
                                         r"default 1.0\), got 'abc'"):
        envs.get_task("fetch_pick").check_kwargs({"noise_ratio": "abc"})
    envs.get_task("fetch_pick").check_kwargs({"noise_ratio": 2})  # an int for a float is fine
    with pytest.raises(BenchError, match="a task name is lower-case letters, digits and _"):
        envs.define_tasks({"Pend X": {"env_id": "InvertedPendulum-v5", "metric": "return", "max_episode_steps": 10}})
    path = tmp_path / "grouped.hdf5"
    with h5py.File(path, "w") as f:
        f.create_group("observations")
        for key in ("actions", "terminals", "timeouts"):
            f[key] = [0.0]
    with pytest.raises(BenchError, match="'observations' is an HDF5 group, not a dataset"):
        importing.import_dataset("maze", str(path), tmp_path / "out", tmp_path / "s.json", {}, random_episodes=1)
    shadow = tmp_path / "envs.py"
    shadow.write_text("METHOD = None\n")
    with pytest.raises(BenchError, match=f"method module file '{shadow}': its name 'envs' is already the module"):
        registry.use_modules([str(shadow)])
    work, env = default_copy
    proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke", "tasks=[fetch_pick]",
                     "evaluation={env_kwargs: {fetch_pick: {noise_ratio: abc}}}")
    assert proc.returncode == 1 and "env argument noise_ratio must be a float" in proc.stderr.strip().splitlines()[-1]
    proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke", "tasks=[maze]", "methods=[dbc@lamda=1]")
    assert proc.returncode == 1 and "config/budgets/paper.yaml" not in proc.stderr
    assert "smoke.yaml" in proc.stderr.strip().splitlines()[-1]
