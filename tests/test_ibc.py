"""Implicit BC: the InfoNCE-trained energy ranks expert actions lowest and DFO finds them."""
from pathlib import Path

import pytest
import torch

from dbc_bench.errors import BenchError
from dbc_bench.fields import from_values, validate
from dbc_bench.io import load_checkpoint, load_state_checked, read_yaml, save_torch_atomic
from methods import ibc
from methods.train import fit
from tests.test_methods import toy_demos

CONFIG = Path(__file__).resolve().parents[1] / "config"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """IBC (DFO variant, one hidden layer as the authors') fit to the toy expert a = tanh(1.5 s)."""
    torch.manual_seed(0)
    data = toy_demos(n=2048, obs_dim=2, act_dim=2)
    cfg = ibc.Config(hidden=[128], epochs=40, batch_size=256, lr=3e-3, lr_decay="constant",
                     counter_examples=64, dfo_samples=500, action_box="data")
    agent = ibc.build(cfg, 2, 2)
    fit(agent, data, cfg, evaluate=lambda a: [], eval_points=1,
        state_path=tmp_path_factory.mktemp("ibc") / "state.pt")
    agent.eval()
    # Held-out states, z-scored with the training statistics.
    held = toy_demos(n=100, obs_dim=2, act_dim=2, seed=1)
    obs = data.obs_norm(held.obs_norm.inverse(held.obs))
    act = data.act_norm(held.act_norm.inverse(held.act))
    return agent, data, obs, act


def test_the_authors_action_box_is_plus_minus_one_per_dimension():
    low, high = ibc.build(ibc.Config(), 2, 3).box()  # no data needed
    assert torch.equal(low, -torch.ones(3)) and torch.equal(high, torch.ones(3))
    assert ibc.Config().action_box == "unit"


def test_action_box_is_the_expert_range_plus_buffer(trained):
    agent, data, _, _ = trained
    low, high = agent.box()
    span = data.act.max(0).values - data.act.min(0).values
    assert torch.allclose(low, data.act.min(0).values - 0.05 * span, atol=1e-5)
    assert torch.allclose(high, data.act.max(0).values + 0.05 * span, atol=1e-5)


def test_expert_action_has_lower_energy_than_uniform_actions(trained):
    agent, _, obs, act = trained
    with torch.no_grad():
        expert = agent.energy(obs, act.unsqueeze(1))             # [100, 1]
        others = agent.energy(obs, agent.uniform(len(obs), 256, obs.device))
    beaten = (others > expert).float().mean(1)                   # per held-out state
    assert beaten.median() > 0.95 and beaten.mean() > 0.9


def test_dfo_act_is_batched_and_lands_near_the_expert(trained):
    agent, _, obs, act = trained
    low, high = agent.box()
    with torch.inference_mode():
        pred = agent.act(obs)                                    # all 100 states in one call
    assert pred.shape == act.shape
    assert ((pred >= low - 1e-6) & (pred <= high + 1e-6)).all()
    err = (pred - act).abs()
    assert err.mean() < 0.25 and err.median() < 0.2              # actions span about 3 z-units


def test_langevin_chains_descend_the_energy_under_inference_mode(trained):
    agent, _, obs, act = trained
    obs = obs[:20]
    start = agent.uniform(20, 64, obs.device)
    with torch.inference_mode():                                 # as evaluation calls it
        end = agent.langevin(obs, start, iterations=30)
        before, after = agent.energy(obs, start).mean(), agent.energy(obs, end).mean()
    assert after < before


def test_langevin_variant_trains_with_gradient_penalty_and_acts(tmp_path):
    data = toy_demos(n=256, obs_dim=2, act_dim=2)
    cfg = ibc.Config(hidden=[32], epochs=2, batch_size=64, lr=1e-3, inference="langevin",
                     counter_examples=8, langevin_iterations=5, langevin_samples=16)
    agent = ibc.build(cfg, 2, 2)
    loss, stats = agent.loss(data.obs[:64], data.act[:64])
    assert {"infonce", "grad_penalty"} <= set(stats) and torch.isfinite(loss)
    result = fit(agent, data, cfg, evaluate=lambda a: [], eval_points=1, state_path=tmp_path / "s.pt")
    assert result.updates == 8
    low, high = agent.box()
    with torch.inference_mode():
        pred = agent.act(data.obs[:5])
    assert pred.shape == (5, 2) and ((pred >= low - 1e-6) & (pred <= high + 1e-6)).all()


def test_checkpoint_keeps_the_action_box(trained, tmp_path):
    agent, _, obs, _ = trained
    save_torch_atomic({"agent": agent.state_dict()}, tmp_path / "model.pt")
    fresh = ibc.build(agent.cfg, 2, 2)
    with pytest.raises(BenchError, match="no action box"):
        fresh.act(obs)
    load_state_checked(fresh, load_checkpoint(tmp_path / "model.pt")["agent"], "model.pt")
    assert all(torch.equal(a, b) for a, b in zip(fresh.box(), agent.box()))
    box = ibc.build(agent.cfg, 2, 2, {"action_low": torch.tensor([-1.0, -2.0]),
                                       "action_high": torch.tensor([1.0, 2.0])}).box()
    assert torch.allclose(box[1], torch.tensor([1.1, 2.2]))


@pytest.mark.parametrize("field,value", [("inference", "mcmc"), ("counter_examples", 0),
                                         ("dfo_noise_shrink", 0.0), ("hidden", []),
                                         ("dfo_iterations", -1)])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(BenchError, match=f"'{field}'"):
        validate(ibc.Config(**{field: value}), "ibc/maze.yaml")


def test_task_configs_are_the_authors():
    cfgs = {task: from_values(ibc.Config, read_yaml(CONFIG / "methods" / "ibc" / f"{task}.yaml"), task)
            for task in ("maze", "fetch_pick", "hand_rotate", "walker")}
    for task, cfg in cfgs.items():
        assert (cfg.dfo_samples, cfg.dfo_iterations, cfg.dfo_noise) == (1000, 3, 0.33)
    assert cfgs["maze"].hidden == [1024] and cfgs["maze"].counter_examples == 64
    assert cfgs["fetch_pick"].batch_size == 512 and cfgs["fetch_pick"].counter_examples == 256
    assert cfgs["hand_rotate"].hidden == [512] and cfgs["hand_rotate"].lr == 1e-5
    assert cfgs["walker"].lr == 8e-5 and cfgs["walker"].epochs == 10000
