"""BC, the shared training loop, normalisation, config resolution and checkpoint safety."""
from pathlib import Path

import pytest
import torch

from dbc_bench.errors import BenchError
from dbc_bench.io import load_checkpoint, load_state_checked, save_torch_atomic
from methods import bc, registry
from methods.config import resolve
from methods.core import Demonstrations, Normalizer
from methods.train import STATE_VERSION, clip_grad_norm, evaluation_points, fit, run_training

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


def test_fit_killed_at_an_evaluation_resumes_to_the_same_result(tmp_path):
    data = toy_demos()
    cfg = bc.Config(epochs=6, batch_size=64, lr=3e-3, hidden=[16])  # 48 updates

    def score(agent):
        with torch.no_grad():
            return [{"return": agent.loss(data.obs, data.act)[0].item()}]

    def train(evaluate, state):
        torch.manual_seed(0)
        policy = bc.build(cfg, 3, 2)
        return policy, fit(policy, data, cfg, evaluate=evaluate, eval_points=3, state_path=state, log_every=5)

    policy, reference = train(score, tmp_path / "a.pt")
    assert [r["update"] for r in reference.curve] == [16, 32, 48]
    assert [r["update"] for r in reference.log] == [5, 10, 15, 16, 20, 25, 30, 32, 35, 40, 45, 48]
    calls = []

    def dies_at_third(agent):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return score(agent)

    with pytest.raises(KeyboardInterrupt):
        train(dies_at_third, tmp_path / "b.pt")
    torch.manual_seed(123)  # restored from the state, not taken from the process
    resumed_policy, resumed = train(score, tmp_path / "b.pt")
    assert resumed.curve == reference.curve
    timing = ("updates_per_s",)
    assert ([{k: v for k, v in r.items() if k not in timing} for r in resumed.log]
            == [{k: v for k, v in r.items() if k not in timing} for r in reference.log])
    for a, b in zip(policy.state_dict().values(), resumed_policy.state_dict().values()):
        assert torch.equal(a, b)


class CountingTrainer:
    """A trainer that counts: its state is the count, a unit adds `per_unit` to `progress()`."""

    unit = "tick"
    log_evaluations = False

    def __init__(self, total, segments=None, per_unit=1):
        self.agent = torch.nn.Linear(1, 1)
        self.total, self.segments, self.per_unit, self.fingerprint = total, segments, per_unit, "counting"
        self.count, self.starts, self.closed = 0, [], False

    def step(self, segment_start):
        if segment_start:
            self.starts.append(self.count)
        self.count += 1

    def log_row(self, units, seconds):
        return {"tick": self.count, "units": units}

    def summary(self, row):
        return ""

    def progress(self):
        return self.count * self.per_unit

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = state["count"]

    def close(self):
        self.closed = True


def test_schedule_segments_checkpoints_and_fingerprint(tmp_path, monkeypatch):
    saved = []
    import methods.train as train_module

    real_save = train_module.save_torch_atomic
    monkeypatch.setattr(train_module, "save_torch_atomic",
                        lambda obj, path: saved.append(obj["units"]) or real_save(obj, path))
    trainer = CountingTrainer(100, segments=8, per_unit=10)
    evaluated = []
    result = run_training(trainer, evaluate=lambda a: evaluated.append(a) or [{"x": 1}], eval_points=3,
                          state_path=tmp_path / "s.pt", log_every=30, checkpoint_seconds=120.0, log=lambda *a: None)
    # segments start at 0, after every 100 // 8 = 12 units, after each evaluation (33, 67, 100)
    assert trainer.starts == [0, 12, 24, 33, 36, 48, 60, 67, 72, 84, 96]
    assert saved == [33, 67, 100] and evaluated == [trainer.agent] * 3 and trainer.closed
    assert [r["update"] for r in result.curve] == [330, 670, 1000] and result.updates == 1000
    assert [r["tick"] for r in result.log] == [30, 60, 90, 100]  # no row at evaluations for this trainer
    assert [r["units"] for r in result.log] == [30, 30, 30, 10]

    # Time-based checkpoints only ever land on a segment boundary.
    saved.clear()
    run_training(CountingTrainer(100, segments=8), evaluate=lambda a: [], eval_points=1,
                 state_path=tmp_path / "t.pt", checkpoint_seconds=0.0, log=lambda *a: None)
    assert saved == [12, 24, 36, 48, 60, 72, 84, 96, 100]

    # A state saved under another fingerprint is discarded; under this one it is resumed.
    lines = []
    again = CountingTrainer(100, segments=8, per_unit=10)
    run_training(again, evaluate=lambda a: [], eval_points=3, state_path=tmp_path / "t.pt",
                 fingerprint="another job", log=lines.append)
    assert any("starting afresh" in line for line in lines) and again.starts[0] == 0
    real_save({"fingerprint": f"|counting|state v{STATE_VERSION}", "units": 67, "log": [], "curve": [],
               "train_seconds": 1.0,
               "trainer": {"count": 67}}, tmp_path / "u.pt")
    lines.clear()
    resumed = CountingTrainer(100, segments=8, per_unit=10)
    result = run_training(resumed, evaluate=lambda a: [{"x": 1}], eval_points=3, state_path=tmp_path / "u.pt",
                          log=lines.append)
    assert any("resuming" in line and "after 67/100 ticks" in line for line in lines)
    assert resumed.starts == [67, 72, 84, 96] and [r["update"] for r in result.curve] == [1000]


def test_resolve_merges_budget_overrides_and_rejects_bad_fields(tmp_path):
    cfg = resolve(CONFIG, "default", "bc", "maze")
    assert cfg.hidden == [256, 256, 256] and cfg.lr == 5e-5       # the authors' settings
    assert cfg.epochs == 300                                         # the default budget's
    assert resolve(CONFIG, "paper", "bc", "maze").epochs == 2000
    (tmp_path / "methods" / "bc").mkdir(parents=True)
    (tmp_path / "budgets").mkdir()
    (tmp_path / "budgets" / "b.yaml").write_text("methods: {}\n")
    (tmp_path / "methods" / "bc" / "maze.yaml").write_text("hiden: [3]\n")
    with pytest.raises(BenchError, match=r"maze.yaml.*unknown field\(s\) hiden; choose from"):
        resolve(tmp_path, "b", "bc", "maze")
    (tmp_path / "methods" / "bc" / "maze.yaml").write_text("epochs: -1\n")
    with pytest.raises(BenchError, match="field 'epochs' must be a number > 0, got -1"):
        resolve(tmp_path, "b", "bc", "maze")


def test_unknown_method_is_named():
    with pytest.raises(BenchError, match="unknown method 'nope'; choose from bc, dbc, ibc, diffusion_policy, gail"):
        registry.parse("nope")


def test_variants_and_run_overrides_resolve():
    l2 = resolve(CONFIG, "default", "bc_l2", "fetch_pick")
    assert l2.weight_decay > 0 and l2.epochs == resolve(CONFIG, "default", "bc", "fetch_pick").epochs
    assert l2.lr == 1e-4  # the base method's budget override applies to its variant
    swept = resolve(CONFIG, "default", "dbc@lambda_dm=0.05", "maze")
    assert swept.lambda_dm == 0.05 and swept.epochs == 300
    assert resolve(CONFIG, "default", "dbc_nonorm", "maze").normalize_dm_loss is False
    with pytest.raises(BenchError, match="unknown field"):
        resolve(CONFIG, "default", "dbc@lamda=1", "maze")


class Evil:
    def __reduce__(self):
        return (Path("/tmp/dbc_bench_pwned").touch, ())


class SystemCall:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/dbc_bench_pwned",))


def test_checkpoint_loading_never_unpickles_code(tmp_path):
    bad = tmp_path / "evil.pt"
    torch.save({"agent": Evil()}, bad)  # a pickle that would run code on load
    marker = Path("/tmp/dbc_bench_pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(BenchError, match="evil.pt: the file carries pickled code .* it was not loaded") as err:
        load_checkpoint(bad)
    assert not marker.exists() and "weights_only=False" not in str(err.value)
    # A pickle naming a function of a module torch blocks outright (another wording of torch's refusal).
    system = tmp_path / "system.pt"
    torch.save({"agent": SystemCall()}, system)
    with pytest.raises(BenchError) as err:
        load_checkpoint(system)
    assert str(err.value) == (f"{system}: the file carries pickled code or objects beyond tensors (it names "
                              f"posix.system); it was not loaded, and must not be: only weights-only files are "
                              f"accepted")
    assert not marker.exists()
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="junk.pt: not a readable torch file") as err:
        load_checkpoint(tmp_path / "junk.pt")
    assert "weights_only" not in str(err.value)  # torch's advice to load unsafely is never passed on
    torch.save(torch.zeros(2), tmp_path / "tensor.pt")
    with pytest.raises(BenchError, match="tensor.pt: expected a dict of tensors, found Tensor"):
        load_checkpoint(tmp_path / "tensor.pt")


def test_torch_files_without_their_keys_are_named(tmp_path):
    from methods.dbc import load_diffusion_model

    torch.save({"model": {}}, tmp_path / "dm.pt")
    with pytest.raises(BenchError, match="dm.pt: not a diffusion-model checkpoint: missing key.s. config, obs_mean"):
        load_diffusion_model(tmp_path / "dm.pt", 3, 2)


def test_checkpoint_roundtrip_and_shape_check(tmp_path):
    policy = bc.Policy(3, 2, [16])
    save_torch_atomic({"agent": policy.state_dict()}, tmp_path / "m.pt")
    state = load_checkpoint(tmp_path / "m.pt")["agent"]
    other = bc.Policy(3, 2, [16])
    load_state_checked(other, state, "m.pt")
    assert all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), other.state_dict().values()))
    with pytest.raises(BenchError, match=r"m.pt: 'net.0.weight' has shape \(16, 3\), expected \(32, 3\)"):
        load_state_checked(bc.Policy(3, 2, [32]), state, "m.pt")
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temporary file


def test_jobs_on_a_machine_with_several_gpus_each_claim_their_own(tmp_path):
    """device: auto with 3 GPUs visible: concurrent jobs take GPUs 0, 1, 2; a killed job's GPU is free again."""
    import subprocess
    import sys

    code = ("from methods.core import claim_gpu; import time; "
            f"print(claim_gpu(3, {str(tmp_path)!r}), flush=True); time.sleep(60)")
    jobs = []

    def start() -> int:
        jobs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True))
        return int(jobs[-1].stdout.readline())

    try:
        assert [start(), start(), start()] == [0, 1, 2]
        assert start() in (0, 1, 2)  # every GPU held: shared
        jobs[1].kill()
        jobs[1].wait()
        assert start() == 1
    finally:
        for job in jobs:
            job.kill()
            job.wait()


def test_progress_lines_come_every_2_percent_or_every_30_seconds(tmp_path, monkeypatch):
    import methods.train as train_module

    lines = []
    run_training(CountingTrainer(200, segments=1, per_unit=1), evaluate=lambda a: [{"success": 1, "return": 2.0}],
                 eval_points=2, state_path=tmp_path / "a.pt", log_every=4, log=lines.append)
    # every 4 units (2% of 200), once a log row exists; the first evaluation is named after it
    assert len(lines) == 50 and lines[0].startswith("tick 4/200 (2%)") and lines[-1].startswith("tick 200/200 (100%)")
    assert all(line.endswith(" left") for line in lines)
    assert "last evaluation: success 100%, return 2.0" in lines[25] and "last evaluation" not in lines[24]
    monkeypatch.setattr(train_module, "PROGRESS_SECONDS", 0.0)  # a slow run: one line per unit once 30 s pass
    lines.clear()
    run_training(CountingTrainer(200, segments=1, per_unit=1), evaluate=lambda a: [], eval_points=1,
                 state_path=tmp_path / "b.pt", log_every=100, log=lines.append)
    assert len(lines) == 101  # from the first log row (unit 100) on


def test_tracking_writes_events_while_a_run_trains(tmp_path):
    """tracking: tensorboard shows a run while it runs: events exist at its first evaluation."""
    from test_tracking import scalars

    from dbc_bench import tracking

    data = toy_demos()
    cfg = bc.Config(epochs=6, batch_size=64, lr=3e-3, hidden=[16])  # 48 updates
    seen = []

    def evaluate(agent):
        if (tmp_path / "tensorboard").exists():
            seen.append(scalars(tmp_path / "tensorboard"))
        return [{"success": 0, "return": 1.0, "length": 5}]

    live = tracking.Live(tmp_path)
    fit(bc.build(cfg, 3, 2), data, cfg, evaluate=evaluate, eval_points=3, state_path=tmp_path / "s.pt",
        log_every=4, observe=live)
    live.close()
    assert [step for step, _ in seen[0]["train/loss"]] == [4, 8, 12, 16]  # rows up to the first evaluation (16)
    assert [step for step, _ in seen[1]["eval/return"]] == [16]
    final = scalars(tmp_path / "tensorboard")
    assert [step for step, _ in final["eval/return"]] == [16, 32, 48] and len(final["train/loss"]) == 12
