"""The smoke DAG on a real (one-node) SLURM cluster through profiles/slurm and the SLURM executor
plugin: every output exists, the per-episode results are byte-identical to the local run's, and a
training job cancelled with scancel (as a walltime kill) resumes from its saved state to the same bits.
The DAG runs on one task (maze): each further task adds the same rules again and about 5 minutes here.

The cluster is started by tests/slurm/start_cluster.sh (root: it installs slurm-wlm and munge with apt
where missing) and stopped at the end. Where it cannot start (not root, no apt), these tests are skipped
with the script's reason. This cluster has no accounting database, so the plugin queries job states with
squeue (--slurm-status-command squeue); a real site's sacct needs no such option.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from conftest import ROOT, copy_workflow, snakemake

SCRIPTS = ROOT / "tests" / "slurm"
# Exactly what docs/cluster.md shows, plus this cluster's status command.
SLURM = ("--profile", "profiles/slurm", "--slurm-status-command", "squeue")

pytestmark = pytest.mark.slow
TASK = "maze"


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("the one-node SLURM cluster needs root (tests/slurm/start_cluster.sh)")
    started = subprocess.run(["bash", str(SCRIPTS / "start_cluster.sh")], capture_output=True, text=True,
                             timeout=900)
    if started.returncode != 0:
        pytest.skip(f"no SLURM cluster: {(started.stderr or started.stdout).strip()[-300:]}")
    yield started.stdout.strip()
    subprocess.run(["bash", str(SCRIPTS / "stop_cluster.sh")], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("slurm")
    env = copy_workflow(work)
    start = time.perf_counter()
    proc = snakemake(work, env, *SLURM, "all", "--config", "budget=smoke", f"tasks=[{TASK}]", timeout=2400)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    print(f"smoke DAG on SLURM: {time.perf_counter() - start:.0f} s, "
          f"{submitted_jobs(proc.stdout + proc.stderr)} SLURM jobs")
    return work, env, proc.stdout + proc.stderr


def submitted_jobs(output: str) -> int:
    """SLURM jobs the executor submitted, as it reports each submission."""
    return len(re.findall(r"has been submitted with SLURM jobid \d+", output))


def test_the_smoke_dag_on_slurm_matches_the_local_run(slurm_run, smoke_run):
    work, _, output = slurm_run
    from analysis.files import REPORT_FILES

    for name in REPORT_FILES:
        assert (work / "paper/smoke" / name).stat().st_size > 0, name
    runs = smoke_run / "results/smoke/runs" / TASK
    local = sorted(p.relative_to(smoke_run) for p in runs.glob("*/seed*/eval_final.csv")
                   if "@" not in str(p) and p.parts[-3] in ("bc", "dbc", "ibc", "diffusion_policy", "gail"))
    assert len(local) == 5 * 3
    for path in local:
        assert (work / path).read_bytes() == (smoke_run / path).read_bytes(), path
    # Short jobs went in bundles: a training job per run and a pre-training job per task, one data job
    # (group `data`, up to 10 tasks), one for latency and report (group `short`, up to 40 jobs).
    assert submitted_jobs(output) == 5 * 3 + 1 + 2


def test_a_cancelled_training_job_resumes_to_the_same_bits(slurm_run):
    work, env, _ = slurm_run
    run = work / "results/smoke/runs/maze/bc/seed1"
    reference = {name: (run / name).read_bytes() for name in ("eval_final.csv", "eval_curve.csv")}
    for f in run.iterdir():
        f.unlink()
    target = str(run.relative_to(work) / "eval_final.csv")
    args = [*SLURM, "--retries", "0", target, "--config", "budget=smoke", f"tasks=[{TASK}]"]
    scheduler = subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=work, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (run / "state.pt").exists() and time.time() < deadline and scheduler.poll() is None:
        time.sleep(0.005)
    assert (run / "state.pt").exists(), "the training job finished or never checkpointed before the cancel"
    subprocess.run(["scancel", "--user", "root"], check=True)  # as a walltime kill: the job's processes die
    assert scheduler.wait(timeout=600) != 0
    assert not (run / "eval_final.csv").exists() and (run / "state.pt").exists()

    proc = snakemake(work, env, *args, timeout=1200)  # resubmitting the same command
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "resuming from" in (work / "results/smoke/logs/train/maze/bc/seed1.log").read_text()
    for name, content in reference.items():
        assert (run / name).read_bytes() == content, name
