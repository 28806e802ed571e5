import os
import subprocess
import sys
from pathlib import Path

# dbc_bench first: it pins the CPU kernels (dbc_bench.kernels) before torch and numpy load.
from dbc_bench import codehash  # isort: skip

import pytest
import torch
import yaml

# Tests must not fight over the 2 cores (Snakemake jobs and torch both want them).
torch.set_num_threads(1)
os.environ.setdefault("MUJOCO_GL", "egl")  # MuJoCo reads its renderer from here, before it loads


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` are skipped, with what this install lacks, where no CUDA device is visible."""
    if torch.cuda.is_available():
        return
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU build; ./setup.sh --cuda installs CUDA's"
    skip = pytest.mark.skip(reason=f"no CUDA device visible (torch {torch.__version__}, {build})")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# What a scratch copy of the workflow needs to run on its own code: with PYTHONPATH pointing at
# the copy, its packages (not the installed checkout's) are imported by Snakemake and every job.
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "profiles", *codehash.PACKAGES)
ROOT = Path(__file__).resolve().parents[1]
# The suite's config/config.yaml: the tests' run and job counts follow its tasks and methods.
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def copy_workflow(dest: Path) -> dict:
    """Copy the workflow and its packages into `dest`; returns the environment to run it with."""
    import shutil

    for item in WORKFLOW_PARTS:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy(src, dest / item)
    return workflow_env(dest)


def workflow_env(work: Path) -> dict:
    """The environment that runs a workflow copy on its own packages."""
    return {**os.environ, "PYTHONPATH": str(work)}  # a subprocess's environment: imports from the copy


def snakemake(work: Path, env: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`snakemake <args>` in `work` with `env`; output captured as text."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def at_root(monkeypatch):
    """For pipeline.plan.build in this process: the checkout's root as the working folder (as Snakemake runs
    the plan), and the task and method registries left as they were."""
    import envs
    from methods import registry

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(envs, "TASKS", dict(envs.TASKS))
    yield
    registry.use_modules([])


@pytest.fixture
def workflow_copy(tmp_path):
    """A scratch copy of the workflow: (folder, environment)."""
    return tmp_path, copy_workflow(tmp_path)


@pytest.fixture(scope="session")
def smoke_env(tmp_path_factory):
    """A scratch copy of the workflow and the environment that runs it on the copy's own code."""
    work = tmp_path_factory.mktemp("pipeline")
    return work, copy_workflow(work)


@pytest.fixture(scope="session")
def smoke_run(smoke_env):
    """The smoke DAG with every experiment target, run once per test session (tests/test_pipeline.py
    checks it; tests/test_slurm.py compares the cluster's run with it)."""
    work, env = smoke_env
    targets = ["all", "generalization", "ablation", "regularization", "lambda_sweep", "dm_quality", "dm_budget",
               "action_dm"]
    (work / "small_sweep.yaml").write_text("experiments:\n  lambda_sweep: {tasks: [maze], values: [0, 2]}\n")
    proc = snakemake(work, env, "--cores", "2", *targets, "--configfile", "config/config.yaml", "small_sweep.yaml",
                     "--config", "budget=smoke", timeout=2400)  # six tasks: over 15 minutes on a loaded machine
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work


def collect_dataset(task: str, out_dir: Path, summary_path: Path, **kwargs) -> dict:
    """envs.demos.collect, and the dataset files' sha256 in its summary, as the data stage records them
    (training jobs check the dataset against them)."""
    import json

    from envs.demos import collect
    from envs.shipped import file_hashes

    summary = {**collect(task, out_dir, summary_path, **kwargs), "files": file_hashes(out_dir)}
    summary_path.write_text(json.dumps(summary))
    return summary
