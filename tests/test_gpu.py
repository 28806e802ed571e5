"""The CUDA path. Tests marked `gpu` run where a CUDA device is visible (tools/gpu_check.sh runs them) and are
skipped, with the reason, elsewhere (tests/conftest.py). A GPU run is compared with the CPU statistically, not
bit for bit: its kernels sum in other orders, its backward passes accumulate with atomics, and its random
streams are not the CPU's, so no two devices give the same bits; what must agree is what the numbers mean."""
import contextlib
import copy
import dataclasses
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, snakemake

from benchmarks import trainers
from envs.evaluation import Evaluation
from methods.train import fit

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def test_evaluation_steps_every_episode_at_once_on_a_gpu_and_keeps_the_cpu_batch():
    protocol = Evaluation()
    assert protocol.envs_on(CPU) == protocol.num_envs == 10  # the committed runs' batching
    assert protocol.envs_on(CUDA) == protocol.episodes == 100
    assert Evaluation(episodes=4, num_envs=10).envs_on(CPU) == 4


def test_setup_cuda_installs_the_cuda_build():
    out = subprocess.run(["bash", "setup.sh", "--cuda", "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable,
                              "TORCH_CUDA_INDEX": "https://example.invalid/cu999"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    install = next(i for i, line in enumerate(lines)
                   if "--force-reinstall torch==2.13.0 --index-url https://example.invalid/cu999" in line)
    assert install < next(i for i, line in enumerate(lines) if "requirements.lock" in line)
    assert lines[-1].endswith("-m methods.devices")
    bad = subprocess.run(["bash", "setup.sh", "--cdua"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "setup.sh: unknown option '--cdua' (choose from --cuda, --dry-run)"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU, tools/gpu_check.sh is the check itself")
def test_the_gpu_check_says_what_is_missing_without_a_gpu():
    out = subprocess.run(["bash", "tools/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "GPU_CHECK_INSTALL": "0"})
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["gpu_check: no CUDA device visible; nothing to check here"]
    assert "device: auto -> cpu" in out.stdout


def test_the_device_check_names_the_build_and_the_device_auto_picks():
    out = subprocess.run([sys.executable, "-m", "methods.devices"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith(f"torch {torch.__version__}: ")
    found = "cuda" if torch.cuda.is_available() else "cpu"
    assert out.strip().splitlines()[-1].startswith(f"device: auto -> {found}")


def learning(method: str, devices: tuple[torch.device, torch.device], workdir, epochs: int = 40,
             seeds: tuple[int, int] = (0, 0)) -> list:
    """(first, last) logged training loss of `method` at toy sizes on each of `devices`, from the same weights
    and data: the mean of the first 5 and of the last fifth of the logged updates."""
    su = trainers.setup("maze", method, tiny=True)
    data = trainers.random_demos(su.obs_dim, su.act_dim, su.transitions)
    # Something to learn: actions a smooth function of the states.
    mixing = torch.randn(su.obs_dim, su.act_dim, generator=torch.Generator().manual_seed(1))
    data = dataclasses.replace(data, act=torch.tanh(data.obs @ mixing / su.obs_dim ** 0.5) * 1.5)
    init = copy.deepcopy(trainers.build_agent(su, data, workdir).state_dict())
    out = []
    for index, (device, seed) in enumerate(zip(devices, seeds)):
        agent = trainers.build_agent(su, data, workdir)
        agent.load_state_dict(init)
        torch.manual_seed(seed)  # the minibatches' and the noise's draws
        with contextlib.redirect_stdout(io.StringIO()):
            result = fit(agent.to(device), data.to(device), dataclasses.replace(su.cfg, epochs=epochs, lr=1e-3),
                         evaluate=lambda a: [], eval_points=1, state_path=workdir / f"state-{index}.pt",
                         log_every=1)
        losses = [row.get("bc_loss", row["loss"]) for row in result.log]  # DBC: its BC part (its model is untrained)
        out.append((float(np.mean(losses[:5])), float(np.mean(losses[-max(5, len(losses) // 5):]))))
    return out


def assert_learns_alike(cpu: tuple[float, float], other: tuple[float, float]) -> None:
    """Same start, same data, same number of updates: the loss falls on both and ends at about the same level."""
    assert np.isfinite(other).all()
    assert other[0] == pytest.approx(cpu[0], rel=0.25)
    assert other[1] < other[0] and cpu[1] < cpu[0]
    assert other[1] == pytest.approx(cpu[1], rel=0.25)


@pytest.mark.parametrize("method", trainers.offline_methods())
def test_the_device_comparison_passes_cpu_against_cpu(method, tmp_path):
    """The comparison the gpu test makes, between two CPU runs of other random streams (as a GPU's are): it
    must hold there."""
    first, second = learning(method, (CPU, CPU), tmp_path, seeds=(0, 1))
    assert first != second
    assert_learns_alike(first, second)


@pytest.mark.gpu
@pytest.mark.parametrize("method", trainers.offline_methods())
def test_each_method_learns_on_cuda_as_on_the_cpu(method, tmp_path):
    assert_learns_alike(*learning(method, (CPU, CUDA), tmp_path))


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["bc", "dbc"])
def test_a_deterministic_policy_acts_alike_on_both_devices(method, tmp_path):
    su = trainers.setup("maze", method, tiny=True)
    data = trainers.random_demos(su.obs_dim, su.act_dim, su.transitions)
    agent = trainers.build_agent(su, data, tmp_path).eval()
    obs = torch.randn(100, su.obs_dim)
    with torch.inference_mode():
        on_cpu = agent.act(obs)
        on_gpu = agent.to(CUDA).act(obs.to(CUDA)).cpu()
    torch.testing.assert_close(on_gpu, on_cpu, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_diffusion_policy_denoises_on_the_device_without_a_host_sync(tmp_path):
    su = trainers.setup("maze", "diffusion_policy")
    data = trainers.random_demos(su.obs_dim, su.act_dim, 256)
    agent = trainers.build_agent(su, data, tmp_path).to(CUDA).eval()
    obs = torch.randn(100, su.obs_dim, device=CUDA)
    with torch.inference_mode():
        agent.act(obs)  # warm-up: lazy initialisations may sync once
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any copy back to the host inside the loop raises
        try:
            actions = agent.act(obs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert actions.device.type == "cuda" and actions.shape == (100, su.act_dim)
    assert torch.isfinite(actions).all().item()


@pytest.mark.gpu
def test_gail_trains_and_acts_on_cuda():
    from benchmarks.online import gail_row
    from methods import registry
    from methods.config import resolve

    row = gail_row("maze", rollouts=2, rounds=1, tiny=True, device="cuda")
    assert row["gail_env_steps_per_s"] > 0 and row["ppo_env_steps_per_s"] > 0
    su = trainers.setup("maze", "bc", tiny=True)
    cfg = dataclasses.replace(resolve(trainers.CONFIG_DIR, "smoke", "gail", "maze"), bc_warm_start_epochs=0)
    data = trainers.random_demos(su.obs_dim, su.act_dim, 256).to(CUDA)
    trainer = registry.methods()["gail"].trainer(cfg, "maze", data, seed=1, device=CUDA, log=lambda line: None)
    try:
        trainer.step(segment_start=True)
        with torch.inference_mode():  # what the evaluation calls: every tensor of the agent on the GPU
            actions = trainer.agent.act(torch.randn(100, su.obs_dim, device=CUDA))
    finally:
        trainer.close()
    assert actions.device.type == "cuda" and torch.isfinite(actions).all().item()


@pytest.mark.gpu
@pytest.mark.slow
def test_the_smoke_dag_runs_on_cuda(workflow_copy):
    work, env = workflow_copy
    proc = snakemake(work, env, "--cores", "2", "all", "--config", "budget=smoke", "device=cuda", "tasks=[maze]",
                     timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted((work / "results" / "smoke" / "runs" / "maze").glob("*/seed*/run.json"))
    assert runs and {json.loads(p.read_text())["device"].split(":")[0] for p in runs} == {"cuda"}
