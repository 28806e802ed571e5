"""Shipped pre-trained models (methods/pretrained/, methods.pretrained): cards, installation, the plan's choice,
and the `diffusion_models` switch in the DAG."""
import json

import pytest
from conftest import snakemake
from test_plan import job_stats

from dbc_bench.errors import BenchError
from dbc_bench.io import read_json, sha256_file, write_json_atomic
from envs import shipped
from methods import pretrained
from pipeline import plan

TASKS = ("maze", "fetch_pick", "hand_rotate", "walker", "cheetah", "ant_reach")
STAGE = "diffusion_model"
HYPERPARAMETERS = {"epochs": 3, "width": 32, "lr": 1e-4}


@pytest.fixture
def pretrained_copy(tmp_path, monkeypatch):
    """An empty shipped folder of its own, so a test may ship into it and damage it."""
    folder = tmp_path / "pretrained"
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", folder)
    return folder


def trained_dir(path, hyperparameters=HYPERPARAMETERS, seed=0):
    """A pre-training job's output folder as pretrain leaves it (its model bytes are arbitrary here)."""
    path.mkdir(parents=True)
    (path / "model.pt").write_bytes(b"weights")
    (path / "loss_curve.csv").write_text("update,heldout_loss\n0,1.0\n3,0.9\n")
    (path / "train_log.csv").write_text("update,loss\n3,0.9\n")
    write_json_atomic(path / "config.json", {
        "config": hyperparameters, "seed": seed, "code": "0123456789abcdef", "device": "cpu",
        "kernels": {"mode": "pinned"}, "provenance": {"git_commit": "abc", "versions": {}, "cpu": "test CPU"}})
    write_json_atomic(path / "timing.json", {"updates": 3, "train_seconds": 1.5, "heldout_loss_initial": 1.0,
                                             "heldout_loss_final": 0.9})
    return path


def wanted(hyperparameters=HYPERPARAMETERS, dataset="d" * 64):
    return pretrained.recipe(STAGE, "maze", hyperparameters, dataset)


def test_a_shipped_model_installs_byte_for_byte(pretrained_copy, tmp_path):
    source = trained_dir(tmp_path / "trained")
    pretrained.ship(STAGE, "maze", source, wanted())
    card = pretrained.read_card(STAGE, "maze")
    assert card["recipe"] == wanted() and card["made_by"]["train_seconds"] == 1.5
    assert pretrained.applies(STAGE, "maze", wanted())
    pretrained.install(STAGE, "maze", wanted(), tmp_path / "out")
    for name in pretrained.MODEL_FILES:
        assert (tmp_path / "out" / name).read_bytes() == (source / name).read_bytes(), name


def test_a_shipped_model_whose_bytes_differ_from_its_card_is_refused_in_one_line(pretrained_copy, tmp_path):
    pretrained.ship(STAGE, "maze", trained_dir(tmp_path / "trained"), wanted())
    (pretrained.folder(STAGE, "maze") / "model.pt").write_bytes(b"other weights")
    with pytest.raises(BenchError) as err:
        pretrained.install(STAGE, "maze", wanted(), tmp_path / "out")
    message = str(err.value)
    assert "model.pt: sha256 differs from its card" in message and "\n" not in message
    assert not (tmp_path / "out" / "model.pt").exists()  # nothing of a refused model is installed as finished


def test_a_shipped_model_of_another_recipe_is_refused_naming_the_field(pretrained_copy, tmp_path):
    pretrained.ship(STAGE, "maze", trained_dir(tmp_path / "trained"), wanted())
    assert not pretrained.applies(STAGE, "maze", wanted(dataset="e" * 64))
    with pytest.raises(BenchError, match=r"recipe differs from this run's in \['hyperparameters'\]"):
        pretrained.install(STAGE, "maze", wanted({**HYPERPARAMETERS, "epochs": 4}), tmp_path / "out")


def test_shipping_refuses_a_model_trained_by_another_recipe(pretrained_copy, tmp_path):
    source = trained_dir(tmp_path / "trained", {**HYPERPARAMETERS, "width": 64})
    with pytest.raises(BenchError, match="trained by another recipe"):
        pretrained.ship(STAGE, "maze", source, wanted())
    assert pretrained.read_card(STAGE, "maze") is None


def test_a_card_missing_a_file_entry_is_one_line(pretrained_copy, tmp_path):
    pretrained.ship(STAGE, "maze", trained_dir(tmp_path / "trained"), wanted())
    path = pretrained.card_path(STAGE, "maze")
    card = read_json(path)
    del card["files"]["timing.json"]
    path.write_text(json.dumps(card))
    with pytest.raises(BenchError, match=r"card.json: 'files' lacks \['timing.json'\]"):
        pretrained.read_card(STAGE, "maze")


@pytest.mark.parametrize("task", TASKS)
def test_every_task_ships_the_default_budgets_diffusion_model(task, at_root):
    """The committed model is the default budget's, trained on the task's shipped dataset, its files as its
    card says; the plan installs it (and pre-trains with diffusion_models=trained)."""
    card = pretrained.read_card(STAGE, task)
    assert card is not None, f"no shipped diffusion model for {task}"
    built = plan.build()
    data_sha = shipped.read_card(task)["files"][pretrained.DATASET_FILE]["sha256"]
    assert card["recipe"] == pretrained.recipe(STAGE, task, built.stage_hyperparameters(STAGE, task), data_sha)
    for name, entry in card["files"].items():
        path = pretrained.folder(STAGE, task) / name
        assert sha256_file(path) == entry["sha256"] and path.stat().st_size == entry["bytes"], name
    assert card["files"]["model.pt"]["bytes"] < 25e6
    made_by = card["made_by"]
    assert {"git_commit", "versions", "cpu", "kernels", "code", "heldout_loss_final"} <= set(made_by)
    assert made_by["heldout_loss_final"] < made_by["heldout_loss_initial"]
    assert built.shipped_model_files(STAGE, task, built.results)
    assert not plan.build({"diffusion_models": "trained"}).shipped_model_files(STAGE, task, built.results)


def test_other_data_gets_a_model_pre_trained_on_it(at_root):
    """A model is installed only for the task's shipped dataset: other demonstrations (here, fewer episodes
    than the shipped dataset's) pre-train their own."""
    built = plan.build({"budget": "smoke", "tasks": ["maze"]})
    assert built.shipped_model_files(STAGE, "maze", built.results) == []


def test_imported_data_and_config_defined_tasks_get_a_model_pre_trained_on_them(at_root, tmp_path, monkeypatch):
    """Demonstrations from `datasets` are not the shipped dataset, whatever the task: no shipped model (a task
    defined in config, having none, must not be looked up)."""
    import envs

    monkeypatch.setattr(envs, "TASKS", dict(envs.TASKS))
    data = tmp_path / "mine.hdf5"
    data.write_bytes(b"")
    pendulum = {"env_id": "InvertedPendulum-v5", "metric": "return", "max_episode_steps": 100}
    built = plan.build({"tasks": ["maze", "pendulum"], "task_definitions": {"pendulum": pendulum},
                        "datasets": {"maze": str(data), "pendulum": str(data)}})
    for task in ("maze", "pendulum"):
        assert built.shipped_model_files(STAGE, task, built.results) == []
        assert built.shipped_demo_files(task, built.results) == []


@pytest.mark.slow
def test_switching_diffusion_models_reruns_exactly_the_dbc_family_jobs(workflow_copy):
    """Smoke budget, maze: its dataset and then its model shipped into the copy; a run installs the model (the
    same bytes), and switching to `trained` reruns the pre-training and DBC's run, not BC's."""
    work, env = workflow_copy
    smoke = ["--config", "budget=smoke", "tasks=[maze]"]
    runs = ["results/smoke/runs/maze/dbc/seed1/eval_final.csv", "results/smoke/runs/maze/bc/seed1/eval_final.csv"]
    refused = snakemake(work, env, "-n", "ship_models", *smoke)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
        "error: target ship_models ships models pre-trained here: add --config diffusion_models=trained")
    for args in (("datasets", *smoke, "demos=ship"), ("ship_models", *smoke, "diffusion_models=trained")):
        proc = snakemake(work, env, "--cores", "2", *args)
        assert proc.returncode == 0, proc.stderr[-2000:]
    model = work / "methods/pretrained/diffusion_model/maze/model.pt"
    assert read_json(model.with_name("card.json"))["recipe"]["dataset_sha256"] == sha256_file(
        work / "results/smoke/datasets/dbc/maze/expert-v0/data/main_data.hdf5")
    proc = snakemake(work, env, "--cores", "2", *runs, *smoke)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "installed the shipped diffusion model of 'maze'" in (
        work / "results/smoke/logs/pretrain_dm/maze.log").read_text()
    assert sha256_file(work / "results/smoke/diffusion_model/maze/model.pt") == sha256_file(model)
    proc = snakemake(work, env, "-n", *runs, *smoke)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    proc = snakemake(work, env, "-n", "-p", *runs, *smoke, "diffusion_models=trained")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert job_stats(out) == {"pretrain_dm": 1, "train": 1}
    assert "method=dbc, seed=1" in out and "method=bc," not in out
    assert "pretrain.py" in out and "--shipped" not in out
