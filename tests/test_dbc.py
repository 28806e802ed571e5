"""DBC's defining properties (issue 4): the diffusion-model term, its gradients, the frozen model."""
import pytest
import torch

from methods import dbc
from methods.diffusion import Config as DMConfig
from methods.diffusion import DiffusionModel, NoiseSchedule, heldout_loss
from methods.train import fit
from tests.test_methods import toy_demos


def test_schedule_matches_the_authors_formula():
    s = NoiseSchedule(1000, 1e-4, 0.02)
    betas = torch.sigmoid(torch.linspace(-6, 6, 1000)) * (0.02 - 1e-4) + 1e-4
    assert torch.allclose(s.betas, betas, atol=1e-7)
    alpha_bar = torch.cumprod(1 - betas.double(), 0).float()
    assert torch.allclose(s.sqrt_alpha_bar ** 2, alpha_bar, atol=1e-6)
    t = s.antithetic_timesteps(8, torch.device("cpu"))
    assert torch.equal(t[:4] + t[4:], torch.full((4,), 999))


@pytest.fixture(scope="module")
def trained_dm(tmp_path_factory):
    """A small diffusion model fit to a toy expert a = tanh(1.5 s) (2-D state, 2-D action)."""
    torch.manual_seed(0)
    data = toy_demos(n=2048, obs_dim=2, act_dim=2)
    cfg = DMConfig(width=128, timesteps=100, epochs=150, batch_size=256, lr=2e-3, lr_decay="constant")
    model = DiffusionModel(2, 2, cfg)
    initial = heldout_loss(model, data.obs, data.act)
    fit(model, data, cfg, evaluate=lambda m: [], eval_points=1,
        state_path=tmp_path_factory.mktemp("dm") / "state.pt")
    return model, data, initial


def test_tiny_dm_learns_2d_toy_distribution(trained_dm):
    model, data, initial = trained_dm
    assert heldout_loss(model, data.obs, data.act) < 0.5 * initial


def make_policy(model, normalize=True, lambda_dm=1.0):
    cfg = dbc.Config(hidden=[32], lambda_dm=lambda_dm, normalize_dm_loss=normalize)
    return dbc.DBCPolicy(2, 2, cfg, model)


def test_dm_term_is_zero_at_the_expert_action(trained_dm):
    model, data, _ = trained_dm
    policy = make_policy(model)
    agent, expert = policy.dm_losses(data.obs[:256], data.act[:256], data.act[:256])
    assert agent.item() == pytest.approx(expert.item(), abs=1e-6)
    assert (agent - expert).clamp_min(0).item() == pytest.approx(0.0, abs=1e-6)


def test_dm_term_is_positive_and_reaches_policy_when_off(trained_dm):
    model, data, _ = trained_dm
    policy = make_policy(model)
    obs, act = data.obs[:512], data.act[:512]
    with torch.no_grad():  # push the policy's output well away from the expert's
        policy.net[-1].bias.fill_(2.0)
    loss, stats = policy.loss(obs, act)
    assert stats["dm_loss"].item() > 0
    policy.zero_grad()
    model.zero_grad(set_to_none=True)  # clear what pre-training left behind
    agent, _ = policy.dm_losses(obs, act, policy.net(obs))
    agent.backward()
    grads = [p.grad for p in policy.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.parameters())  # the frozen model gets none


def test_dm_weights_do_not_change_during_policy_training(trained_dm, tmp_path):
    model, data, _ = trained_dm
    before = {k: v.clone() for k, v in model.state_dict().items()}
    policy = make_policy(model, lambda_dm=10.0)
    assert not any(p is q for p in policy.parameters() for q in model.parameters())
    cfg = dbc.Config(hidden=[32], epochs=2, batch_size=128, lr=1e-3)
    fit(policy, data, cfg, evaluate=lambda a: [], eval_points=1, state_path=tmp_path / "s.pt")
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert "dm" not in " ".join(policy.state_dict())  # the policy checkpoint holds only the policy


def test_normalisation_ablation_drops_expert_term(trained_dm):
    model, data, _ = trained_dm
    torch.manual_seed(1)
    _, with_norm = make_policy(model, normalize=True).loss(data.obs[:256], data.act[:256])
    torch.manual_seed(1)
    _, without = make_policy(model, normalize=False).loss(data.obs[:256], data.act[:256])
    assert without["dm_loss"].item() == pytest.approx(without["dm_agent"].item())
    assert with_norm["dm_loss"].item() == pytest.approx(
        max(with_norm["dm_agent"].item() - with_norm["dm_expert"].item(), 0.0), abs=1e-6)


class KnownGuidance(torch.nn.Module):
    """A stand-in model whose term's sign is known: agent loss = mean((a_hat - 1)^2), expert loss = 0.25,
    so L_DM > 0 exactly when the policy's actions are more than 0.5 from 1 (in the mean square)."""

    def guidance(self, obs, act, pred):
        return ((pred - 1.0) ** 2).mean(), torch.tensor(0.25)


def test_the_term_counters_are_exact_on_a_known_case():
    """Over five updates whose actions are known: the counters, and the loss's value and gradient."""
    policy = dbc.DBCPolicy(2, 2, dbc.Config(hidden=[8], lambda_bc=1.0, lambda_dm=2.0), KnownGuidance())
    obs, act = torch.zeros(16, 2), torch.zeros(16, 2)
    for bias in (1.0, 0.0, 0.9, -1.0, 0.2):  # the policy's action: its output bias (output weights zeroed)
        with torch.no_grad():
            policy.net[-1].weight.zero_()
            policy.net[-1].bias.fill_(bias)
        loss, stats = policy.loss(obs, act)
        assert loss.item() == pytest.approx(bias ** 2 + 2.0 * max((bias - 1) ** 2 - 0.25, 0.0), rel=1e-6)
        policy.zero_grad()
        loss.backward()
        through_terms = [p.grad.clone() for p in policy.parameters()]
        policy.zero_grad()
        out = policy.net(obs)
        (torch.nn.functional.mse_loss(out, act) + 2.0 * (((out - 1) ** 2).mean() - 0.25).clamp_min(0)).backward()
        assert all(torch.allclose(a, p.grad, atol=1e-7) for a, p in zip(through_terms, policy.parameters()))
    # Active where (b - 1)^2 > 0.25: b = 0, -1, 0.2. Share = ||g_DM|| / (||g_BC|| + ||g_DM||) = 2|b-1| / (|b| + 2|b-1|).
    record = policy.training_record()["dm_term"]
    assert record["updates"] == 5 and record["active_updates"] == 3
    assert record["mean"] == pytest.approx((0.75 + 3.75 + 0.39) / 5, rel=1e-6)
    assert record["grad_share_mean"] == pytest.approx((1.0 + 0.8 + 1.6 / 1.8) / 5, rel=1e-6)
    assert float(stats["dm_active_frac"]) == pytest.approx(0.6) and float(stats["dm_grad_share"]) > 0
    with torch.no_grad():  # outside training updates nothing is counted
        policy.loss(obs, act)
    policy.eval()
    policy.loss(obs, act)
    assert policy.training_record()["dm_term"]["updates"] == 5
