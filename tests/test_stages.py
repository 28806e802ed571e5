"""Pre-training stages declared once (registry.StageSpec): every method's `needs` names one, each gets its
own rule, and the action-only diffusion model (the paper's third open check) scores actions alone."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import snakemake

from dbc_bench.errors import BenchError
from methods import dbc, dbc_action_dm, registry
from methods.diffusion import Config, DiffusionModel, save_checkpoint


def test_every_stage_is_registered_once_with_its_rule():
    stages = registry.stages()
    assert list(stages) == ["diffusion_model", "action_diffusion_model", "ebm_model", "vae_model", "gan_model"]
    assert [s.rule for s in stages.values()] == ["pretrain_dm", "pretrain_action_dm", "pretrain_ebm",
                                                 "pretrain_vae", "pretrain_gan"]
    ebm = stages["ebm_model"].model_path("results/default", "maze")
    assert ebm == "results/default/guidance_model/maze/ebm/model.pt"
    for method in registry.methods().values():
        assert all(need in stages for need in method.needs), method.name


def test_the_readme_command_lists_the_stages():
    import subprocess
    import sys

    from conftest import ROOT

    proc = subprocess.run([sys.executable, "-c", "from methods import registry; print(list(registry.stages()))"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "'diffusion_model', 'action_diffusion_model'" in proc.stdout, proc.stderr


def test_a_method_that_needs_an_unregistered_stage_is_one_line(tmp_path, monkeypatch):
    module = tmp_path / "needy.py"
    module.write_text("from methods import bc\nfrom methods.registry import MethodSpec\n"
                      "METHOD = MethodSpec(name='needy', label='Needy', config=bc.Config, build=bc.build,\n"
                      "                    needs=('difusion_model',))\n")
    try:
        with pytest.raises(BenchError, match=r"method 'needy' needs 'difusion_model', which no module declares as a "
                                             r"pre-training stage \(STAGES\); choose from diffusion_model, "):
            registry.use_modules([str(module)])
    finally:
        registry.use_modules([])


def test_the_action_only_model_ignores_the_state():
    torch.manual_seed(0)
    model = DiffusionModel(5, 2, Config(width=16, timesteps=10, inputs="action"))
    act, pred = torch.randn(64, 2), torch.randn(64, 2)
    losses = []
    for obs in (torch.randn(64, 5), torch.randn(64, 5)):
        torch.manual_seed(1)
        losses.append(torch.stack(model.guidance(obs, act, pred)))
    assert torch.equal(losses[0], losses[1])
    assert model.net.hidden[0].in_features == 2


def test_each_method_refuses_the_other_kind_of_model(tmp_path):
    for inputs in ("state_action", "action"):
        cfg = Config(width=8, timesteps=10, inputs=inputs)
        save_checkpoint(DiffusionModel(3, 2, cfg), torch.zeros(3), torch.zeros(2), tmp_path / f"{inputs}.pt")
    policy_cfg = dataclasses.replace(dbc.Config(), hidden=[8])
    dbc_action_dm.build(policy_cfg, 3, 2, {"action_diffusion_model": tmp_path / "action.pt"})
    dbc.build(policy_cfg, 3, 2, {"diffusion_model": tmp_path / "state_action.pt"})
    with pytest.raises(BenchError, match="state_action.pt: a diffusion model with inputs: state_action, where this "
                                         "method needs inputs: action"):
        dbc_action_dm.build(policy_cfg, 3, 2, {"action_diffusion_model": tmp_path / "state_action.pt"})
    with pytest.raises(BenchError, match="action.pt: a diffusion model with inputs: action, where this method needs "
                                         "inputs: state_action"):
        dbc.build(policy_cfg, 3, 2, {"diffusion_model": tmp_path / "action.pt"})


def test_the_action_dm_target_plans_its_own_stage(workflow_copy):
    work, env = workflow_copy
    proc = snakemake(work, env, "-n", "-p", "action_dm", "--config", "seeds=[1]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    commands = [line for line in proc.stdout.splitlines() if "workflow/scripts/pretrain.py" in line]
    def word_after(line, flag):
        return line.split(f"{flag} ")[1].split()[0]

    stages = sorted(f"{word_after(line, '--stage')}/{word_after(line, '--task')}" for line in commands)
    assert stages == ["action_diffusion_model/fetch_pick", "action_diffusion_model/maze",
                      "diffusion_model/fetch_pick", "diffusion_model/maze"]
    assert "--out-dir results/default/action_diffusion_model/maze " in proc.stdout
