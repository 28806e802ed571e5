"""Diffusion Policy: a state-conditioned action DDPM that keeps both modes of a bimodal expert."""
import math
from pathlib import Path

import pytest
import torch

from dbc_bench.errors import BenchError
from dbc_bench.fields import from_values, validate
from dbc_bench.io import load_state_checked, read_yaml
from methods import diffusion_policy as dp
from methods.core import Demonstrations, Normalizer
from methods.train import fit

CONFIG = Path(__file__).resolve().parents[1] / "config"


def bimodal_demos(n=2048, seed=0):
    """a = +1 or -1 with probability 1/2 each, whatever the (2-D) state."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 2, generator=g)
    act = torch.where(torch.rand(n, 1, generator=g) < 0.5, -1.0, 1.0)
    on, an = Normalizer.fit(obs), Normalizer.fit(act)
    return Demonstrations(on(obs), an(act), on, an, n_episodes=1, source="bimodal")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(0)
    data = bimodal_demos()
    cfg = dp.Config(hidden=[128, 128], timesteps=100, epochs=150, batch_size=256, lr=3e-3,
                    lr_decay="constant", sampler="ddpm", inference_steps=10)
    agent = dp.build(cfg, 2, 1)
    fit(agent, data, cfg, evaluate=lambda a: [], eval_points=1,
        state_path=tmp_path_factory.mktemp("dp") / "state.pt")
    agent.eval()
    return agent, data


def draw(agent, data, sampler, n=600):
    obs = torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        act = agent.sample(data.obs_norm(obs), sampler, generator=torch.Generator().manual_seed(2))
    return obs, data.act_norm.inverse(act)[:, 0]


def check_bimodal(obs, act, near=0.9):
    assert ((act.abs() - 1).abs() < 0.25).float().mean() > near      # samples sit on the modes
    for part in (obs[:, 0] < 0, obs[:, 0] >= 0):                     # both modes, whatever the state
        assert 0.3 < (act[part] > 0).float().mean() < 0.7


def test_schedule_is_diffusers_cosine():
    agent = dp.build(dp.Config(timesteps=50, hidden=[8]), 2, 1)
    f = lambda t: math.cos((t / 50 + 0.008) / 1.008 * math.pi / 2) ** 2
    alpha_bar = agent.sqrt_alpha_bar ** 2
    assert alpha_bar[10].item() == pytest.approx(f(11) / f(0), rel=1e-4)
    assert len(agent.schedulers["ddpm"].timesteps) == 50               # full ancestral chain


def test_ddpm_samples_keep_both_modes(trained):
    agent, data = trained
    check_bimodal(*draw(agent, data, "ddpm"))


def test_ddim_few_step_sampling_keeps_both_modes(trained):
    agent, data = trained
    obs, act = draw(agent, data, "ddim")
    assert len(agent.schedulers["ddim"].timesteps) == 10
    check_bimodal(obs, act, near=0.85)


def test_state_dict_holds_only_tensors_and_loads_weights_only(trained, tmp_path):
    agent, data = trained
    torch.save({"agent": agent.state_dict()}, tmp_path / "model.pt")
    state = torch.load(tmp_path / "model.pt", weights_only=True)["agent"]
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    fresh = dp.build(agent.cfg, 2, 1)
    load_state_checked(fresh, state, "model.pt")
    obs = data.obs[:8]
    same = [m.sample(obs, "ddim", generator=torch.Generator().manual_seed(3)) for m in (agent, fresh)]
    assert torch.equal(*same)


def test_latency_helper_times_one_batched_call(trained):
    from envs.evaluation import latency_per_call

    agent, _ = trained
    calls = []
    obs = torch.randn(10, 2)
    seconds = latency_per_call(lambda: calls.append(agent.act(obs)), repeats=2, warmup=1)
    assert 0 < seconds < 5 and len(calls) == 3 and calls[-1].shape == (10, 1)


@pytest.mark.parametrize("field,value", [("sampler", "euler"), ("timesteps", 0), ("hidden", [0]),
                                         ("time_embed_dim", 7), ("clip_sample", -1.0)])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(BenchError, match=f"'{field}'"):
        validate(dp.Config(**{field: value}), "diffusion_policy/maze.yaml")
    with pytest.raises(BenchError, match="'inference_steps'"):
        validate(dp.Config(sampler="ddim", timesteps=10, inference_steps=20), "x.yaml")


def test_task_configs_are_the_authors():
    cfgs = {task: from_values(dp.Config, read_yaml(CONFIG / "methods" / "diffusion_policy" / f"{task}.yaml"), task)
            for task in ("maze", "fetch_pick", "hand_rotate", "walker")}
    for task, cfg in cfgs.items():
        assert cfg.timesteps == 1000 and cfg.sampler == "ddpm" and cfg.batch_size == 128
    assert cfgs["maze"].hidden == [256] * 4 and cfgs["maze"].epochs == 20000
    assert cfgs["fetch_pick"].hidden == [1200] * 4 and cfgs["fetch_pick"].lr == 1e-5
    assert cfgs["hand_rotate"].hidden == [2100] * 4 and cfgs["hand_rotate"].epochs == 30000
    assert cfgs["walker"].hidden == [1200] * 4 and cfgs["walker"].lr == 1e-4
