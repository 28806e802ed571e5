"""The diffusion model's quality measures (methods/dm_quality.py) on cases whose answer is known, and the
dm_budget variants' config checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import snakemake

from methods.dm_quality import hinge_positive_share, roc_auc


def test_roc_auc_counts_the_alternatives_ranked_above_the_expert():
    assert roc_auc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert roc_auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5  # ties count half
    assert roc_auc(np.array([0.0, 2.0]), np.array([1.0, 3.0])) == 0.75  # 3 of 4 (expert, alternative) pairs


def test_hinge_share_is_the_share_of_batches_whose_agent_mean_is_higher():
    gen = torch.Generator().manual_seed(0)
    expert = torch.zeros(4, 100)
    assert hinge_positive_share(expert + 1.0, expert, batch=8, batches=50, generator=gen) == 1.0
    assert hinge_positive_share(expert - 1.0, expert, batch=8, batches=50, generator=gen) == 0.0
    # Agent above the expert in draws 0-1 only: about half of the batches (each batch takes one draw).
    agent = torch.cat([torch.ones(2, 100), -torch.ones(2, 100)])
    assert hinge_positive_share(agent, expert, batch=8, batches=4000, generator=gen) == pytest.approx(0.5, abs=0.03)


def test_a_typo_in_a_dm_budget_variant_is_one_line(workflow_copy):
    work, env = workflow_copy
    smoke = work / "config/budgets/smoke.yaml"
    smoke.write_text(smoke.read_text().replace("constant: {all: {lr_decay: constant, epochs: 3}}",
                                               "constant: {all: {lr_decay: constant, epohcs: 3}}"))
    proc = snakemake(work, env, "-n", "dm_budget", "--config", "budget=smoke", "tasks=[maze]")
    assert proc.returncode == 1
    assert "config/budgets/smoke.yaml: dm_budget.constant" in proc.stderr and "epohcs" in proc.stderr


def test_a_dm_budget_variant_sets_fields_for_all_tasks_then_per_task():
    from methods.config import resolve_stage

    variant = {"all": {"lr_decay": "constant"}, "walker": {"epochs": 4000}}
    walker = resolve_stage("config", "default", "diffusion_model", "walker", variant, "v")
    maze = resolve_stage("config", "default", "diffusion_model", "maze", variant, "v")
    assert (walker.lr_decay, walker.epochs) == ("constant", 4000)
    budget_maze = resolve_stage("config", "default", "diffusion_model", "maze")
    assert (maze.lr_decay, maze.epochs) == ("constant", budget_maze.epochs)
    # A stage built on the diffusion model's fields (the action-only model) inherits the variant's.
    action = resolve_stage("config", "default", "action_diffusion_model", "walker", variant, "v")
    assert (action.inputs, action.lr_decay, action.epochs) == ("action", "constant", 4000)


def test_a_dm_budget_variant_naming_an_unknown_task_is_refused():
    from dbc_bench.errors import BenchError
    from methods.config import resolve_stage

    with pytest.raises(BenchError, match=r"^budget.yaml: dm_budget.long: unknown task\(s\) wlaker"):
        resolve_stage("config", "default", "diffusion_model", "maze", {"wlaker": {"epochs": 1}},
                      "budget.yaml: dm_budget.long")
