"""The real DAG at the smoke budget: Snakemake, real envs, Minari datasets, training, evaluation,
statistics and figures, in a scratch copy of the workflow."""
import csv
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import CONFIG, snakemake, workflow_env

import envs
from dbc_bench.io import check_digest

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Every test here reads the smoke DAG's run (about 15-25 minutes): the slow tier.
pytestmark = pytest.mark.slow


def test_report_outputs_exist(smoke_run):
    paper = smoke_run / "paper" / "smoke"
    from analysis.files import REPORT_FILES

    for name in REPORT_FILES:
        assert (paper / name).stat().st_size > 0, name
    table = (paper / "main_table.md").read_text()
    for method in ("BC", "DBC", "Implicit BC", "Diffusion Policy", "GAIL"):
        assert f"| {method} |" in table, method
    assert "92.1" in table  # the paper's numbers beside ours
    curves = (paper / "learning_curves.csv").read_text()
    assert all(f",{m}," in curves for m in CONFIG["methods"])
    index = (paper / "README.md").read_text()
    assert all(f"]({name})" in index for name in REPORT_FILES if name.endswith(".png"))
    assert "(lambda_sweep/sensitivity.md)" in index and "(generalization.md)" in index


def test_generalization_target(smoke_run):
    paper = smoke_run / "paper" / "smoke"
    table = (paper / "generalization.md").read_text()
    assert "r = 1.75" in table and "paper 92.4" in table  # every ratio, the paper's numbers beside ours
    assert (paper / "generalization.png").stat().st_size > 0
    evals = list((smoke_run / "results/smoke/generalization").rglob("r*.csv"))
    assert len(evals) == len(CONFIG["methods"]) * 3 * 5  # methods x seeds x noise ratios


def test_experiment_targets(smoke_run):
    paper = smoke_run / "paper" / "smoke"
    ablation = (paper / "ablation" / "main_table.md").read_text()
    assert "DBC" in ablation and "dbc_nonorm" in (paper / "ablation" / "scores.csv").read_text()
    improvement = (paper / "regularization" / "improvement.csv").read_text()
    assert "bc_l2" in improvement and "bc," in improvement  # P(DBC > BC) and P(DBC > L2-BC)
    sweep = (paper / "lambda_sweep" / "scores.csv").read_text()
    assert "dbc@lambda_dm=0," in sweep and "dbc@lambda_dm=2," in sweep
    sensitivity = (paper / "lambda_sweep" / "sensitivity.md").read_text()
    assert "| Maze | 0 |" in sensitivity and "| Maze | 2 |" in sensitivity
    assert (paper / "lambda_sweep" / "sensitivity.png").stat().st_size > 0


def test_diffusion_model_targets(smoke_run):
    """dm_quality: every task's model scored; dm_budget: each variant's model, its DBC runs beside BC's."""
    paper = smoke_run / "paper" / "smoke"
    quality = (paper / "dm_quality.md").read_text()
    rows = [line for line in quality.splitlines() if line.startswith("| ") and "Held-out" not in line
            and "---" not in line]
    assert len(rows) == len(CONFIG["tasks"]) and "AUC BC's action" in quality
    assert (paper / "dm_quality.png").stat().st_size > 0
    table = (paper / "dm_budget" / "dm_budget.md").read_text()
    assert "| Maze | budget | 32 | 2 | linear |" in table and "| Maze | constant | 32 | 3 | constant |" in table
    variant = smoke_run / "results/smoke/dm_budget/constant"
    assert json.loads((variant / "diffusion_model/maze/config.json").read_text())["config"]["lr_decay"] == "constant"
    run = json.loads((variant / "runs/maze/dbc/seed1/run.json").read_text())
    assert run["inputs"]["diffusion_model"] == "results/smoke/dm_budget/constant/diffusion_model/maze/model.pt"
    assert run["dataset_sha256"] == json.loads((smoke_run / "results/smoke/data/maze.json").read_text())["files"]
    assert (paper / "dm_budget" / "dm_budget_activity.png").stat().st_size > 0


def test_action_dm_target(smoke_run):
    """dbc_action_dm trains against its own stage's model, of the actions alone, beside DBC's of [s, a]."""
    for task in ("maze", "fetch_pick"):
        run = json.loads((smoke_run / f"results/smoke/runs/{task}/dbc_action_dm/seed1/run.json").read_text())
        assert run["inputs"] == {"action_diffusion_model": f"results/smoke/action_diffusion_model/{task}/model.pt"}
        model = torch.load(smoke_run / run["inputs"]["action_diffusion_model"], weights_only=True)
        assert model["config"]["inputs"] == "action"
        assert model["model"]["net.hidden.0.weight"].shape[1] == envs.TASKS[task].act_dim
    table = (smoke_run / "paper/smoke/action_dm/main_table.md").read_text()
    assert "DBC (action-only DM)" in table


def test_html_report_builds(smoke_run):
    proc = snakemake(smoke_run, workflow_env(smoke_run), "--cores", "1", "all", "--config", "budget=smoke",
                     "--report", "report.html", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (smoke_run / "report.html").stat().st_size > 10_000


def test_every_run_evaluated_and_logged(smoke_run):
    runs = sorted((smoke_run / "results" / "smoke" / "runs").glob("*/*/seed*"))
    main = [r for r in runs if r.parent.name in CONFIG["methods"]]
    assert len(main) == len(CONFIG["tasks"]) * len(CONFIG["methods"]) * 3  # tasks x methods x seeds (config.yaml)
    for run in runs:
        rows = list(csv.DictReader((run / "eval_final.csv").open()))
        assert len(rows) == 4  # the smoke budget's evaluation episodes
        assert json.loads((run / "timing.json").read_text())["updates_per_second"] > 0
        assert not (run / "state.pt").exists()  # resume state removed once finished
        check_digest(run)  # every result file is the one the run recorded as it finished
    header = (smoke_run / "results/smoke/runs/maze/dbc/seed1/train_log.csv").read_text().splitlines()[0]
    assert all(name in header for name in ("dm_loss", "bc_loss", "dm_active_frac", "dm_term_mean", "dm_grad_share"))
    # DBC counts its term over every update; the main table shows it for DBC rows only.
    term = json.loads((smoke_run / "results/smoke/runs/maze/dbc/seed1/run.json").read_text())["dm_term"]
    timing = json.loads((smoke_run / "results/smoke/runs/maze/dbc/seed1/timing.json").read_text())
    assert term["updates"] == timing["updates"] and 0 <= term["active_updates"] <= term["updates"]
    assert "dm_term" not in json.loads((smoke_run / "results/smoke/runs/maze/bc/seed1/run.json").read_text())
    table = (smoke_run / "paper/smoke/main_table.md").read_text()
    assert "DM term active, % of updates" in table
    bc_row = next(line for line in table.splitlines() if line.startswith("| Maze (success %) | BC |"))
    assert bc_row.rstrip().endswith("| - |")


def test_every_rule_has_log_and_benchmark(smoke_run):
    bench = smoke_run / "results" / "smoke" / "benchmarks"
    for rule in ("collect_demos", "pretrain_dm", "train"):
        assert list((bench / rule).rglob("*.tsv")), rule
    assert (bench / "report.tsv").exists()


def test_rerun_has_nothing_to_do(smoke_run):
    proc = snakemake(smoke_run, workflow_env(smoke_run), "-n", "--cores", "2", "all", "--config", "budget=smoke",
                     timeout=300)
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_a_run_deleted_under_a_finished_report_is_rerun(smoke_run, tmp_path):
    """As after a SIGKILL during --forcerun: the run's outputs are gone, its state is left."""
    run = smoke_run / "results" / "smoke" / "runs" / "maze" / "bc" / "seed1"
    kept = shutil.copytree(run, tmp_path / "kept")
    try:
        for f in run.iterdir():
            f.unlink()
        (run / "state.pt").write_bytes(b"")
        runs = planned_runs(snakemake(smoke_run, workflow_env(smoke_run), "-n", "all", "--config", "budget=smoke"))
        assert runs == {("maze", "bc", "1")}
    finally:
        shutil.rmtree(run)
        shutil.copytree(kept, run)


def planned_runs(proc) -> set[tuple[str, str, str]]:
    """(task, method, seed) of every training job a dry run plans."""
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(re.findall(r"wildcards: (?:results=[^,\s]+, )?task=(\w+), method=([^,\s]+), seed=(\d+)", proc.stdout))


def edited(path: Path, old: str, new: str) -> str:
    """Replace `old` by `new` in `path`; returns the original text to restore."""
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))
    return text


def test_code_changes_rerun_exactly_the_jobs_that_run_them(smoke_run):
    env = workflow_env(smoke_run)
    dry_run = ("-n", "all", "--config", "budget=smoke")
    dbc, protocol = smoke_run / "methods" / "dbc.py", smoke_run / "envs" / "evaluation.py"
    original = edited(dbc, "dm_loss = (agent - expert).clamp_min(0.0)", "dm_loss = 2 * (agent - expert).clamp_min(0.0)")
    try:  # DBC's loss: DBC's runs only
        runs = planned_runs(snakemake(smoke_run, env, *dry_run))
        assert {m for _, m, _ in runs} == {"dbc"} and len(runs) == len(CONFIG["tasks"]) * 3
    finally:
        dbc.write_text(original)
    edited(dbc, '"""Diffusion Model-Augmented', '# a comment\n"""An edited docstring. Diffusion Model-Augmented')
    try:  # comments and docstrings: nothing
        assert planned_runs(snakemake(smoke_run, env, *dry_run)) == set()
    finally:
        dbc.write_text(original)
    original = edited(protocol, 'slot["length"] += 1', 'slot["length"] += int(1)')
    try:  # the evaluation protocol: every training job
        runs = planned_runs(snakemake(smoke_run, env, *dry_run))
        assert {m for _, m, _ in runs} == set(CONFIG["methods"])
        assert len(runs) == len(CONFIG["tasks"]) * len(CONFIG["methods"]) * 3
    finally:
        protocol.write_text(original)
    assert "Nothing to be done" in snakemake(smoke_run, env, *dry_run).stdout


def test_bad_config_is_named(smoke_run):
    proc = snakemake(smoke_run, workflow_env(smoke_run), "-n", "--cores", "1", "all", "--config", "tasks=[nope]",
                     timeout=300)
    assert proc.returncode != 0
    assert "nope" in proc.stderr + proc.stdout


def test_slurm_profile_dry_run(smoke_run):
    proc = snakemake(smoke_run, workflow_env(smoke_run), "-n", "--profile", "profiles/slurm", "all", "--config",
                     "budget=smoke", timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_killed_job_resumes_to_the_uninterrupted_result(smoke_run):
    """SIGKILL one training job of the DAG partway; rerunning Snakemake finishes it from its
    checkpoint with exactly the result of the uninterrupted run."""
    import psutil

    run = smoke_run / "results" / "smoke" / "runs" / "maze" / "bc" / "seed1"
    reference = {name: (run / name).read_bytes() for name in ("eval_final.csv", "eval_curve.csv")}
    reference_model = torch.load(run / "model.pt", weights_only=True)["agent"]
    for f in run.iterdir():
        f.unlink()
    target = str(run.relative_to(smoke_run) / "eval_final.csv")
    args = ["--cores", "1", target, "--config", "budget=smoke"]
    scheduler = subprocess.Popen(SNAKEMAKE + args, cwd=smoke_run, env=workflow_env(smoke_run),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    victim, deadline = None, time.time() + 300
    while victim is None and time.time() < deadline and scheduler.poll() is None:
        if (run / "state.pt").exists():
            victim = next((p for p in psutil.Process(scheduler.pid).children(recursive=True)
                           if any(arg.endswith("train_policy.py") for arg in p.cmdline())), None)
        time.sleep(0.005)
    assert victim is not None, "the training job finished or never checkpointed before the kill"
    victim.send_signal(signal.SIGKILL)
    assert scheduler.wait(timeout=300) != 0
    assert not (run / "eval_final.csv").exists() and (run / "state.pt").exists()

    proc = snakemake(smoke_run, workflow_env(smoke_run), *args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resuming from" in (smoke_run / "results/smoke/logs/train/maze/bc/seed1.log").read_text()
    for name, content in reference.items():
        assert (run / name).read_bytes() == content, name
    model = torch.load(run / "model.pt", weights_only=True)["agent"]
    assert all(torch.equal(model[k], reference_model[k]) for k in reference_model)


def test_native_kernels_rerun_every_job(smoke_run):
    env = {**workflow_env(smoke_run), "DBC_KERNELS": "native"}
    runs = planned_runs(snakemake(smoke_run, env, "-n", "all", "--config", "budget=smoke"))
    config = yaml.safe_load((smoke_run / "config" / "config.yaml").read_text())
    assert runs == {(t, m, str(s)) for t in config["tasks"] for m in config["methods"] for s in config["seeds"]}


def test_verify_reproduces_the_runs_bit_for_bit(smoke_run):
    proc = snakemake(smoke_run, workflow_env(smoke_run), "--cores", "2", "verify", "--config", "budget=smoke")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = (smoke_run / "results/verify/smoke/verify.md").read_text()
    assert report in proc.stdout + proc.stderr  # printed, not only written
    for run in ("maze/bc/seed1", "maze/dbc/seed1", "walker/bc/seed1"):
        assert f"- {run}: bit-identical" in report
    for task in ("maze", "walker"):
        assert f"- {task}: against the committed summary: identical" in report


def test_one_short_episode_is_recorded_as_video_and_linked(smoke_run):
    """`evaluation.videos`: a FetchPick run's final policy in its first evaluation episode (50 steps),
    rendered headless (OSMesa), with its record and its link from the report's README."""
    import ctypes.util

    from analysis.report import video_links

    if ctypes.util.find_library("OSMesa") is None:  # .ci/run installs it
        pytest.skip("headless rendering needs OSMesa: apt-get install libosmesa6")

    target = "results/smoke/videos/fetch_pick/bc/seed1"
    proc = snakemake(smoke_run, workflow_env(smoke_run), "--cores", "1", target, "--config", "budget=smoke",
                     "evaluation={videos: 1}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = smoke_run / target
    video = (folder / "episode-0.mp4").read_bytes()
    assert len(video) > 1000 and video[4:8] == b"ftyp"  # an MP4 container
    record = json.loads((folder / "episodes.json").read_text())
    first = (smoke_run / "results/smoke/runs/fetch_pick/bc/seed1/eval_final.csv").read_text().splitlines()[1]
    assert [e["eval_seed"] for e in record["episodes"]] == [int(first.split(",")[1])]  # the evaluation's seed
    assert 1 <= record["episodes"][0]["length"] <= 50
    links = video_links([folder], smoke_run / "paper" / "smoke")
    assert "](../../results/smoke/videos/fetch_pick/bc/seed1/episode-0.mp4)" in links[0]


def test_generative_ablation_target(smoke_run):
    """`snakemake generative_ablation` with one method of each guidance model (smoke sizes): the models are
    pre-trained, the guided runs train, and the table sets them beside the paper's numbers."""
    ablation = "experiments={generative_ablation: {tasks: [maze], methods: [bc, dbc_ebm, dbc_vae_nobc, dbc_gan]}}"
    proc = snakemake(smoke_run, workflow_env(smoke_run), "--cores", "2", "generative_ablation", "--config",
                     "budget=smoke", ablation)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for kind in ("ebm", "vae", "gan"):
        assert (smoke_run / f"results/smoke/guidance_model/maze/{kind}/model.pt").is_file()
    run = json.loads((smoke_run / "results/smoke/runs/maze/dbc_vae_nobc/seed1/run.json").read_text())
    assert list(run["inputs"]) == ["vae_model"] and run["config"]["lambda_bc"] == 0.0
    table = (smoke_run / "paper/smoke/generative_ablation/guidance.md").read_text()
    assert "| EBM | - | 20.3 |" in table and "| VAE |" in table and "(n=3)" in table and "| BC alone |" in table
    assert (smoke_run / "paper/smoke/generative_ablation/guidance.png").stat().st_size > 10_000
