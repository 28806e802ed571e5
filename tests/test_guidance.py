"""The generative-model ablation's guidance models (methods/guidance.py): each learns the toy expert,
its guidance term is zero when the agent's pair is the expert's, positive when it is off, and its
gradients reach the policy only; a checkpoint of another kind or dataset is refused."""
import pytest
import torch

from dbc_bench.errors import BenchError
from methods import dbc, guidance, registry
from methods.diffusion import save_checkpoint
from methods.train import fit
from tests.test_methods import toy_demos


@pytest.fixture(scope="module", params=guidance.KINDS)
def trained(request, tmp_path_factory):
    """A small model of each kind fit to the toy expert a = tanh(1.5 s) (2-D state, 2-D action)."""
    torch.manual_seed(0)
    data = toy_demos(n=2048, obs_dim=2, act_dim=2)
    cfg = guidance.Config(kind=request.param, width=64, epochs=60, batch_size=256, lr=2e-3, lr_decay="constant",
                          counter_examples=32)
    model = guidance.MODELS[request.param](2, 2, cfg)
    model.prepare(data)
    initial = model.heldout_loss(data.obs, data.act)
    fit(model, data, cfg, evaluate=lambda m: [], eval_points=1, state_path=tmp_path_factory.mktemp("g") / "s.pt")
    return request.param, model, data, initial


def test_each_model_learns_the_toy_expert(trained):
    kind, model, data, initial = trained
    final = model.heldout_loss(data.obs, data.act)
    if kind == "gan":  # its loss moves with its generator: check that it tells expert pairs from others
        off = torch.rand(data.act.shape, generator=torch.Generator().manual_seed(1)) * 4 - 2
        with torch.no_grad():
            assert model.pair_loss(data.obs, data.act, None).mean() < model.pair_loss(data.obs, off, None).mean()
    else:
        assert final < 0.9 * initial, (kind, initial, final)


def test_the_ebm_draws_counter_examples_over_every_expert_action(trained):
    """The z-scored toy actions, like maze's, reach beyond +-1: the counter-examples must cover them, or
    the energy learns where the box ends rather than which action suits which state."""
    kind, model, data, _ = trained
    if kind != "ebm":
        pytest.skip("counter-examples are the EBM's")
    assert (data.act.abs() > 1).any()
    counter = model.randomness(512, data.act.device, torch.Generator().manual_seed(0)).reshape(-1, 2)
    assert (counter.min(0).values <= data.act.min(0).values).all()
    assert (counter.max(0).values >= data.act.max(0).values).all()
    # It tells each state's expert action from the other states' (the same actions, shuffled),
    # also where the action lies beyond +-1.
    outside = (data.act.abs() > 1).any(1)
    shuffled = data.act[torch.randperm(len(data.act), generator=torch.Generator().manual_seed(1))]
    shared = model.randomness(len(data.act), data.act.device, torch.Generator().manual_seed(2))
    with torch.no_grad():
        expert, other = model.pair_loss(data.obs, data.act, shared), model.pair_loss(data.obs, shuffled, shared)
    assert expert[outside].mean() < 0.5 * other[outside].mean(), (expert[outside].mean(), other[outside].mean())
    fresh = guidance.EnergyModel(2, 2, guidance.Config(kind="ebm"))
    with pytest.raises(BenchError, match="no action box yet"):
        fresh.randomness(1, data.act.device)


def policy_for(model, lambda_bc=1.0):
    return dbc.DBCPolicy(2, 2, dbc.Config(hidden=[32], lambda_bc=lambda_bc), model)


def test_the_term_is_zero_when_agent_and_expert_pairs_are_equal(trained):
    _, model, data, _ = trained
    agent, expert = policy_for(model).dm_losses(data.obs[:256], data.act[:256], data.act[:256])
    assert agent.item() == pytest.approx(expert.item(), abs=1e-6)


def test_the_term_is_positive_off_the_expert_and_its_gradients_reach_the_policy_only(trained):
    kind, model, data, _ = trained
    policy = policy_for(model)
    obs, act = data.obs[:512], data.act[:512]
    with torch.no_grad():
        policy.net[-1].bias.fill_(2.0)  # actions far from the expert's
    _, stats = policy.loss(obs, act)
    if kind == "gan":  # a discriminator is no density: far-off pairs may look no less real than the expert's
        assert stats["dm_agent"].item() != pytest.approx(stats["dm_expert"].item(), abs=1e-4)
    else:
        assert stats["dm_loss"].item() > 0, kind
    model.zero_grad(set_to_none=True)
    agent, _ = policy.dm_losses(obs, act, policy.net(obs))
    agent.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_without_the_bc_loss_only_the_guidance_trains_the_policy(trained):
    _, model, data, _ = trained
    loss, stats = policy_for(model, lambda_bc=0.0).loss(data.obs[:128], data.act[:128])
    assert loss.item() == pytest.approx(stats["dm_loss"].item(), rel=1e-6)


def test_checkpoints_of_another_kind_or_dataset_are_refused(trained, tmp_path):
    kind, model, data, _ = trained
    path = tmp_path / "model.pt"
    save_checkpoint(model, data.obs_norm.mean, data.act_norm.mean, path)
    loaded = guidance.load_guidance_model(path, kind, 2, 2, data.obs_norm, data.act_norm)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    other = next(k for k in guidance.KINDS if k != kind)
    with pytest.raises(BenchError, match=f"a '{kind}' model, not the '{other}'"):
        guidance.load_guidance_model(path, other, 2, 2)
    shifted = toy_demos(n=256, obs_dim=2, act_dim=2, seed=1)
    shifted.obs_norm.mean += 1.0
    with pytest.raises(BenchError, match="other observation statistics"):
        guidance.load_guidance_model(path, kind, 2, 2, shifted.obs_norm, None)


def test_the_ablation_methods_are_registered_with_their_inputs():
    for kind in guidance.KINDS:
        run = registry.parse(f"dbc_{kind}_nobc")
        assert run.method.needs == (f"{kind}_model",) and run.variant.overrides == {"lambda_bc": 0.0}
    assert registry.parse("dbc_nobc").variant.overrides == {"lambda_bc": 0.0}


def test_a_diffusion_model_on_raw_pairs_pairs_only_with_a_raw_policy(tmp_path):
    """`normalize: false` in a diffusion model's config (the authors' AntReach model) trains it on raw
    [s, a] pairs; DBC then needs a policy that does not z-score either, and says which setting differs."""
    from envs import importing
    from methods.core import load_demonstrations
    from methods.diffusion import pretrain
    from tests.test_importing import flat, random_episodes, write_authors

    source = write_authors(tmp_path / "demos.pt", flat(random_episodes("maze", 2, steps=40)))
    importing.import_dataset("maze", source, tmp_path / "dataset", tmp_path / "summary.json", {}, random_episodes=1)
    hyper = {"width": 16, "epochs": 1, "timesteps": 10, "normalize": False}
    pretrain("maze", hyper, tmp_path / "dataset", tmp_path / "dm", eval_points=1)
    raw = load_demonstrations(tmp_path / "dataset", normalize=False)
    assert torch.equal(torch.load(tmp_path / "dm" / "model.pt")["obs_mean"], raw.obs_norm.mean)  # zeros
    cfg = dbc.Config(hidden=[8])
    dbc.build(cfg, 6, 2, {"diffusion_model": tmp_path / "dm" / "model.pt", "obs_norm": raw.obs_norm,
                          "act_norm": raw.act_norm})
    zscored = load_demonstrations(tmp_path / "dataset")
    with pytest.raises(BenchError, match="trained with normalize: false, this policy uses normalize: true"):
        dbc.build(cfg, 6, 2, {"diffusion_model": tmp_path / "dm" / "model.pt", "obs_norm": zscored.obs_norm,
                              "act_norm": zscored.act_norm})
