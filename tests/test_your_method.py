"""Your method, your data, your task, against the shipped runs: a method from a module outside the
suite and demonstrations from a file outside it run through the real smoke DAG; `reference: shipped`
then compares the new method with runs made earlier without retraining them, and refuses runs made on
other data or under another protocol; a gymnasium env defined in config alone runs every stage."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import ROOT, copy_workflow, snakemake

from dbc_bench.errors import BenchError
from tests.test_importing import flat, random_episodes, write_authors, write_d4rl
from tests.test_pipeline import planned_runs

SMOKE = ("budget=smoke", "tasks=[maze]", "seeds=[1,2]")


@pytest.fixture(scope="module")
def your_setup(tmp_path_factory):
    """A workflow copy; a folder outside it holding the example method's module; maze demonstrations
    in the DBC authors' torch layout; config overlays: mine.yaml names the method, mydata.yaml the
    method and the data."""
    base = tmp_path_factory.mktemp("yours")
    work = base / "suite"
    work.mkdir()
    env = copy_workflow(work)
    modules = base / "my_methods"
    modules.mkdir()
    shutil.copy(ROOT / "examples" / "huber_bc" / "huber_bc.py", modules / "huber_bc.py")
    env["PYTHONPATH"] = str(work)  # the method is named by its file: every job imports it from there
    data = write_authors(base / "my_maze_demos.pt", flat(random_episodes("maze", 4, steps=60)))
    method = {"method_modules": [str(modules / "huber_bc.py")]}
    (work / "mine.yaml").write_text(yaml.safe_dump(method))
    (work / "mydata.yaml").write_text(yaml.safe_dump({**method, "datasets": {"maze": data}}))
    return work, env


def run(work, env, *args, config=(), overlay="mine.yaml", timeout=1200):
    """snakemake <args> with an overlay (the Snakefile's config/config.yaml stays the base)."""
    overlay = ("--configfile", overlay) if overlay else ()
    return snakemake(work, env, "--cores", "2", *args, *overlay, "--config", *SMOKE, *config, timeout=timeout)


YOURS = ("methods=[huber_bc]", "reference=shipped", "reference_methods=[bc,dbc]")


def tree_bytes(folder):
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def shipped_then_yours(your_setup):
    """First the reference runs (BC, DBC) on the suite's data, as a maintainer ships them; then only the
    new method, from a module outside the suite, with `reference: shipped`."""
    work, env = your_setup
    proc = run(work, env, "all", config=["methods=[bc,dbc]"], overlay=None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shipped = tree_bytes(work / "results/smoke/runs")
    planned = run(work, env, "-n", "all", config=YOURS)
    proc = run(work, env, "all", config=YOURS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert tree_bytes(work / "results/smoke/runs") == shipped  # the shipped runs are read, never written
    return work, env, planned


@pytest.mark.slow
def test_imported_data_and_external_method_run_like_built_ins_in_their_own_folders(shipped_then_yours):
    work, env, _ = shipped_then_yours
    shipped = tree_bytes(work / "results/smoke") | tree_bytes(work / "paper/smoke")
    proc = run(work, env, "all", config=["methods=[huber_bc]", "seeds=[1]", "label=mydata"], overlay="mydata.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert tree_bytes(work / "results/smoke") | tree_bytes(work / "paper/smoke") == shipped
    summary = json.loads((work / "results/smoke-mydata/data/maze.json").read_text())
    assert summary["source_format"] == "authors" and summary["transitions"] == 240
    run_dir = work / "results/smoke-mydata/runs/maze/huber_bc/seed1"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["config"]["huber_delta"] == 1.0 and meta["config"]["hidden"] == [32, 32]  # BC's smoke settings
    assert meta["dataset_sha256"] == summary["files"]
    assert "huber_loss" in (run_dir / "train_log.csv").read_text()
    assert "label=mydata" in (work / "paper/smoke-mydata/README.md").read_text()


@pytest.mark.slow
def test_reference_shipped_trains_only_the_new_method(shipped_then_yours):
    work, _, planned = shipped_then_yours
    assert planned_runs(planned) == {("maze", "huber_bc", "1"), ("maze", "huber_bc", "2")}
    assert "rule pretrain_dm" not in planned.stdout
    assert (work / "results/smoke-custom/runs/maze/huber_bc/seed2/eval_final.csv").is_file()
    table = (work / "paper/smoke-custom-vs-shipped/main_table.md").read_text()
    assert all(f"| {label} " in table for label in ("BC", "DBC", "Huber BC"))
    readme = (work / "paper/smoke-custom-vs-shipped/README.md").read_text()
    assert "merged the shipped runs of bc, dbc from results/smoke/runs/" in readme
    assert "Huber BC" not in (work / "paper/smoke/main_table.md").read_text()  # the shipped report is kept
    bench = work / "results/smoke-custom/benchmarks"
    assert (bench / "report-vs-shipped.tsv").is_file()  # and its timing


@pytest.mark.slow
def test_reference_shipped_refuses_runs_of_another_protocol_or_dataset(shipped_then_yours):
    work, env, _ = shipped_then_yours
    digest_path = work / "results/smoke/runs/maze/dbc/seed2/digest.json"
    meta_path = work / "results/smoke/runs/maze/dbc/seed2/run.json"
    original, original_digest = meta_path.read_text(), digest_path.read_text()
    meta = json.loads(original)

    def rewrite(new_meta):  # as a run made under another protocol would have recorded it
        meta_path.write_text(json.dumps(new_meta))
        record = json.loads(original_digest)
        record["files"]["run.json"] = hashlib.sha256(meta_path.read_bytes()).hexdigest()
        digest_path.write_text(json.dumps(record))

    try:
        rewrite({**meta, "eval_episodes": 5})
        proc = run(work, env, "-n", "all", config=YOURS)
        assert proc.returncode == 1
        assert ("error: config 'reference: shipped': results/smoke/runs/maze/dbc/seed2 is not comparable: "
                "eval_episodes 5 (this run: 4)") in proc.stderr
    finally:
        meta_path.write_text(original)
        digest_path.write_text(original_digest)
    # Your data against runs made on the suite's: refused by the report job, once the data stage has run.
    proc = run(work, env, "all", config=[*YOURS, "seeds=[1]", "label=mydata"], overlay="mydata.yaml")
    assert proc.returncode != 0
    log = (work / "results/smoke-mydata/logs/report-vs-shipped.log").read_text()
    assert "error: results/smoke/runs/maze/bc/seed1 is not comparable: dataset" in log


def test_an_unimportable_method_module_is_one_line(your_setup):
    work, env = your_setup
    proc = snakemake(work, env, "-n", "all", "--config", *SMOKE, "method_modules=[no_such_module]")
    assert proc.returncode == 1
    assert "error: config 'method_modules': cannot import method module 'no_such_module'" in proc.stderr
    proc = snakemake(work, env, "-n", "all", "--config", *SMOKE, "method_modules=[my_methods/no_such_file.py]")
    assert proc.returncode == 1
    assert "error: config 'method_modules': method module file 'my_methods/no_such_file.py': no such file" \
        in proc.stderr


def test_an_entry_point_registers_an_installed_method(your_setup, tmp_path):
    """An installed package declares its method under the entry-point group dbc_bench.methods."""
    work, env = your_setup
    dist = tmp_path / "huber_bc_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: huber-bc-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[dbc_bench.methods]\nhuber_bc = huber_bc\n")
    env = {**env, "PYTHONPATH": f"{env['PYTHONPATH']}:{tmp_path}:{work.parent / 'my_methods'}"}
    code = "from methods import registry; print(registry.labels()['huber_bc'])"
    done = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "Huber BC", done.stderr[-2000:]


# --------------------------------------------------------------------------- a task without code

PENDULUM = {"env_id": "InvertedPendulum-v5", "metric": "return", "max_episode_steps": 100, "label": "Pendulum"}


@pytest.fixture
def defines_tasks(monkeypatch):
    """Tasks a test defines leave the registry as it was."""
    import envs

    monkeypatch.setattr(envs, "TASKS", dict(envs.TASKS))


def test_a_dict_observation_task_is_flattened_and_reports_success():
    from envs.configured import ConfiguredEnv

    env = ConfiguredEnv("FetchReach-v4", metric="success", success_key="is_success",
                        obs_keys=["observation", "desired_goal"])
    obs, info = env.reset(seed=3)
    assert obs.shape == (13,) and obs.dtype == np.float32 and info["success"] is False
    inner = env.inner._get_obs()
    np.testing.assert_allclose(obs, np.concatenate([inner["observation"], inner["desired_goal"]]), rtol=1e-6)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert info["success"] == bool(info["is_success"])
    env.close()
    with pytest.raises(BenchError, match="has Dict observations .*list the keys to flatten in 'obs_keys'"):
        ConfiguredEnv("FetchReach-v4", metric="success", success_key="is_success")
    with pytest.raises(BenchError, match=r"obs_keys \['goal'\] are not among"):
        ConfiguredEnv("FetchReach-v4", metric="success", success_key="is_success", obs_keys=["goal"])


@pytest.mark.parametrize("change, message", [
    ({"env_id": "Pendulumm-v9"}, "env_id 'Pendulumm-v9' is not a registered gymnasium env"),
    ({"metric": "score"}, "metric 'score': choose from success, return"),
    ({"metric": "success"}, "names the info key that reports it in 'success_key'"),
    ({"max_episode_steps": 0}, "max_episode_steps must be a positive integer"),
    ({"horizon": 5}, "unknown key 'horizon'"),
    ({"config_like": "walkerr"}, "config_like 'walkerr' is not a built-in task"),
])
def test_a_bad_task_definition_is_named(change, message, defines_tasks):
    import envs

    with pytest.raises(BenchError, match=message):
        envs.define_tasks({"pendulum": {**PENDULUM, **change}})


@pytest.mark.slow
def test_a_task_defined_in_config_runs_the_smoke_dag(tmp_path, defines_tasks):
    """InvertedPendulum from gymnasium, with demonstrations this test records, through every stage."""
    import envs
    from envs import demos

    work = tmp_path / "suite"
    work.mkdir()
    env = copy_workflow(work)
    envs.define_tasks({"pendulum": PENDULUM})
    task = envs.get_task("pendulum")
    pendulum = task.make()
    # A balancing controller (a PD law on the pole's angle) gives returns above a random policy's.
    episodes = [demos.rollout(pendulum, lambda o: np.clip([2.0 * o[1] + 0.5 * o[3] + 0.1 * o[0]], -3, 3), seed=s)
                for s in range(3)]
    pendulum.close()
    arrays = flat(episodes)
    write_d4rl(tmp_path / "pendulum.hdf5", arrays)
    (work / "mine.yaml").write_text(yaml.safe_dump({
        "task_definitions": {"pendulum": PENDULUM}, "datasets": {"pendulum": str(tmp_path / "pendulum.hdf5")}}))
    proc = snakemake(work, env, "--cores", "2", "all", "--configfile", "mine.yaml", "--config", "budget=smoke",
                     "tasks=[pendulum]", "methods=[bc,dbc]", "seeds=[1,2]", timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((work / "results/smoke-custom/data/pendulum.json").read_text())
    assert summary["transitions"] == len(arrays["actions"]) and summary["metric"] == "return"
    run = json.loads((work / "results/smoke-custom/runs/pendulum/dbc/seed1/run.json").read_text())
    assert run["task"] == "pendulum" and run["transitions"] == len(arrays["actions"])
    rows = (work / "results/smoke-custom/runs/pendulum/bc/seed2/eval_final.csv").read_text().splitlines()
    assert len(rows) == 5 and all(int(r.split(",")[-1]) <= 100 for r in rows[1:])  # 4 episodes, horizon 100
    assert "| Pendulum " in (work / "paper/smoke-custom/main_table.md").read_text()
    # Editing the task's definition reruns its data stage (a param of import_demos) and what depends on it.
    (work / "mine.yaml").write_text(yaml.safe_dump({
        "task_definitions": {"pendulum": {**PENDULUM, "max_episode_steps": 90}},
        "datasets": {"pendulum": str(tmp_path / "pendulum.hdf5")}}))
    proc = snakemake(work, env, "-n", "all", "--configfile", "mine.yaml", "--config", "budget=smoke",
                     "tasks=[pendulum]", "methods=[bc,dbc]", "seeds=[1,2]")
    assert proc.returncode == 0 and "rule import_demos" in proc.stdout, proc.stderr[-2000:]
    # Each job of the task is given the definition as an argument, a param: its training jobs would rerun for
    # that reason alone, not only because their data do.
    proc = snakemake(work, env, "--list-changes", "params", "--configfile", "mine.yaml", "--config", "budget=smoke",
                     "tasks=[pendulum]", "methods=[bc,dbc]", "seeds=[1,2]")
    changed = set(proc.stdout.split())
    assert {f"results/smoke-custom/runs/pendulum/{m}/seed{s}/eval_final.csv" for m in ("bc", "dbc") for s in (1, 2)} \
        <= changed, proc.stdout[-2000:]
    assert "results/smoke-custom/data/pendulum.json" in changed


def test_the_readme_robotics_task_definition_is_accepted_in_a_fresh_process():
    """FetchReach-v4 is registered only once gymnasium_robotics is imported: the definition check imports it."""
    code = ("import envs; envs.define_tasks({'reach': {'env_id': 'FetchReach-v4', 'metric': 'success', "
            "'success_key': 'is_success', 'max_episode_steps': 50, 'obs_keys': ['observation', 'desired_goal'], "
            "'config_like': 'fetch_pick'}}); print(envs.get_task('reach').obs_dim)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "13"


def test_a_method_module_that_exits_at_import_is_one_line(your_setup, tmp_path):
    """sys.exit(0) in a method module must not end the workflow with status 0 having done nothing."""
    work, env = your_setup
    module = tmp_path / "quits.py"
    marker = tmp_path / "after_exit"
    module.write_text(f"import sys\nsys.exit(0)\nopen({str(marker)!r}, 'w').close()\n")
    proc = snakemake(work, env, "-n", "all", "--config", *SMOKE, f"method_modules=[{module}]")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: config 'method_modules': method module '{module}' called sys.exit(0) while "
        f"being imported; a method module must only define its method")
    assert not marker.exists()
