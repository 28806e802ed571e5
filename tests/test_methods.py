"""BC, the shared training loop, normalisation, config resolution and checkpoint safety."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from methods import bc, get_method
from methods.config import resolve
from methods.core import (BenchError, Demonstrations, Normalizer, load_checkpoint, load_state_checked,
                          save_atomic)
from methods.train import TrainConfig, clip_grad_norm, evaluation_points, fit

CONFIG = Path(__file__).resolve().parents[1] / "config"


def toy_demos(n=512, obs_dim=3, act_dim=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, obs_dim, generator=g)
    act = torch.tanh(obs[:, :act_dim] * 1.5)
    on, an = Normalizer.fit(obs), Normalizer.fit(act)
    return Demonstrations(on(obs), an(act), on, an, n_episodes=1, source="toy")


def test_normalizer_roundtrip_and_clamp():
    x = torch.randn(100, 4) * 3 + 1
    norm = Normalizer.fit(x)
    z = norm(x)
    assert torch.allclose(z.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(norm.inverse(z), x, atol=1e-4)
    assert norm(torch.full((1, 4), 1e6)).max() == 10.0  # the authors' +-10 clamp
    const = Normalizer.fit(torch.ones(10, 2))  # zero std must not divide by zero
    assert torch.isfinite(const(torch.ones(1, 2))).all()


def test_bc_policy_is_tanh_mlp_with_orthogonal_init():
    policy = bc.Policy(5, 2, [64, 64])
    linears = [m for m in policy.net if isinstance(m, torch.nn.Linear)]
    assert [type(m).__name__ for m in policy.net].count("Tanh") == 2
    w = linears[1].weight
    assert torch.allclose(w @ w.T, 2.0 * torch.eye(64), atol=1e-4)  # orthogonal, gain sqrt(2)


def test_bc_fits_toy_mapping_and_lr_decays_to_zero(tmp_path):
    data = toy_demos()
    cfg = bc.Config(epochs=60, batch_size=64, lr=3e-3, hidden=[64, 64])
    policy = bc.build(cfg, 3, 2)
    before = policy.loss(data.obs, data.act)[0].item()
    evals = []
    result = fit(policy, data, cfg, evaluate=lambda a: evals.append(1) or [{"success": 0, "return": 0.0}],
                 eval_points=3, state_path=tmp_path / "state.pt")
    after = policy.loss(data.obs, data.act)[0].item()
    assert after < 0.1 * before
    assert len(evals) == 3 and result.updates == cfg.total_updates(len(data))
    assert result.log[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert result.updates_per_second > 0


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3, float("nan")])
def test_clip_grad_norm_matches_pytorch_bit_for_bit(scale):
    """Within the bound (scale 1e-3) the multiply is skipped; the gradients must still be PyTorch's."""
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(64, 32, generator=g) * scale, torch.randn(32, generator=g) * scale]
    ours, theirs = ([torch.nn.Parameter(torch.zeros_like(x)) for x in grads] for _ in range(2))
    for a, b, x in zip(ours, theirs, grads):
        a.grad, b.grad = x.clone(), x.clone()
    clip_grad_norm(ours, 0.5)
    torch.nn.utils.clip_grad_norm_(theirs, 0.5)
    for a, b in zip(ours, theirs):
        assert torch.equal(a.grad, b.grad) or (a.grad.isnan().all() and b.grad.isnan().all())


def test_evaluation_points_end_at_last_update():
    assert evaluation_points(100, 5) == [20, 40, 60, 80, 100]
    assert evaluation_points(3, 5)[-1] == 3


def test_diverging_loss_stops_with_clear_error(tmp_path):
    data = toy_demos()
    data.act[0, 0] = float("nan")
    cfg = bc.Config(epochs=1, batch_size=512, hidden=[8])
    with pytest.raises(BenchError, match="diverged"):
        fit(bc.build(cfg, 3, 2), data, cfg, evaluate=lambda a: [], eval_points=1,
            state_path=tmp_path / "s.pt")


def test_resolve_merges_budget_overrides_and_rejects_bad_fields(tmp_path):
    cfg = resolve(CONFIG, "default", "bc", "maze")
    assert cfg.hidden == [256, 256, 256] and cfg.lr == 5e-5       # the authors' settings
    assert cfg.epochs == 500                                         # the default budget's
    assert resolve(CONFIG, "paper", "bc", "maze").epochs == 2000
    (tmp_path / "methods" / "bc").mkdir(parents=True)
    (tmp_path / "budgets").mkdir()
    (tmp_path / "budgets" / "b.yaml").write_text("methods: {}\n")
    (tmp_path / "methods" / "bc" / "maze.yaml").write_text("hiden: [3]\n")
    with pytest.raises(BenchError, match=r"maze.yaml.*unknown field\(s\) \['hiden'\]"):
        resolve(tmp_path, "b", "bc", "maze")
    (tmp_path / "methods" / "bc" / "maze.yaml").write_text("epochs: -1\n")
    with pytest.raises(BenchError, match="'epochs' must be a positive integer"):
        resolve(tmp_path, "b", "bc", "maze")


def test_unknown_method_is_named():
    with pytest.raises(BenchError, match="unknown method 'nope'; choose from bc, bc_l2, dbc, dbc_nonorm"):
        get_method("nope")


def test_variants_and_run_overrides_resolve():
    l2 = resolve(CONFIG, "default", "bc_l2", "fetch_pick")
    assert l2.weight_decay > 0 and l2.epochs == resolve(CONFIG, "default", "bc", "fetch_pick").epochs
    assert l2.lr == 1e-4  # the base method's budget override applies to its variant
    swept = resolve(CONFIG, "default", "dbc@lambda_dm=0.05", "maze")
    assert swept.lambda_dm == 0.05 and swept.epochs == 500
    assert resolve(CONFIG, "default", "dbc_nonorm", "maze").normalize_dm_loss is False
    with pytest.raises(BenchError, match="unknown field"):
        resolve(CONFIG, "default", "dbc@lamda=1", "maze")


class Evil:
    def __reduce__(self):
        return (Path("/tmp/dbc_bench_pwned").touch, ())


def test_checkpoint_loading_never_unpickles_code(tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"agent": Evil()}, bad)  # a pickle that would run code on load
    marker = Path("/tmp/dbc_bench_pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(BenchError, match="evil.pt: not a valid weights-only checkpoint"):
        load_checkpoint(bad)
    assert not marker.exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")


def test_checkpoint_roundtrip_and_shape_check(tmp_path):
    policy = bc.Policy(3, 2, [16])
    save_atomic({"agent": policy.state_dict()}, tmp_path / "m.pt")
    state = load_checkpoint(tmp_path / "m.pt")["agent"]
    other = bc.Policy(3, 2, [16])
    load_state_checked(other, state, "m.pt")
    assert all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), other.state_dict().values()))
    with pytest.raises(BenchError, match=r"m.pt: 'net.0.weight' has shape \(16, 3\), expected \(32, 3\)"):
        load_state_checked(bc.Policy(3, 2, [32]), state, "m.pt")
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temporary file
