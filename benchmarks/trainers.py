"""The suite's offline trainers against the plain PyTorch loop, and their inference latency.

The suite side is only its public surface: the method registry builds each agent, as the pipeline
does, and `methods.train.fit` trains it. Sizes are the `paper` budget's (the authors' networks and
batches), on random z-scored data: a trainer's speed does not depend on what the numbers are.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import math
from pathlib import Path

import torch

import envs
from benchmarks import plain
from benchmarks.timing import alternating_medians, calibrate
from dbc_bench.errors import BenchError
from envs.evaluation import Evaluation, latency_per_call
from methods import registry
from methods.config import resolve, resolve_stage
from methods.core import Demonstrations, Normalizer, synchronize
from methods.train import fit

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
CPU = torch.device("cpu")
BUDGET = "paper"
TRANSITIONS = 10_000  # the paper budget's dataset size on fetch_pick and hand_rotate
# --tiny: toy sizes for every config field that has them, so each code path runs in moments.
TINY = {"hidden": [16], "batch_size": 32, "counter_examples": 4, "dfo_samples": 8, "timesteps": 20,
        "time_embed_dim": 8, "sampler": "ddpm", "width": 16}


def offline_methods() -> list[str]:
    """The registered offline methods (variants excluded: same trainer), in the registry's order; the
    generative-model ablation's guided DBCs are left out (DBC's trainer with another frozen model, whose
    stage declares no stand-in)."""
    specs, stages = registry.methods(), registry.stages()
    return [name for name in registry.names() if name in specs and not specs[name].online
            and all(stages[need].stand_in for need in specs[name].needs)]


@dataclasses.dataclass
class Setup:
    """One (task, method) at the benchmark's sizes; `needs` holds the config of each earlier-stage
    input the method trains against (DBC: its diffusion model's)."""

    task: str
    method: str
    obs_dim: int
    act_dim: int
    cfg: object
    needs: dict
    transitions: int = TRANSITIONS  # random demonstrations to train on

    @property
    def batch(self) -> int:
        return self.cfg.batch_size


def shrink(cfg, tiny: bool):
    return dataclasses.replace(cfg, **{k: v for k, v in TINY.items() if hasattr(cfg, k)}) if tiny else cfg


def setup(task: str, method: str, tiny: bool = False, config_dir: Path = CONFIG_DIR) -> Setup:
    spec = registry.parse(method).method
    unknown = [need for need in spec.needs if registry.stage(need).stand_in is None]
    if unknown:
        raise BenchError(f"method '{method}' needs {unknown[0]}, which the benchmark cannot provide")
    t = envs.TASKS[task]
    needs = {need: shrink(resolve_stage(config_dir, BUDGET, need, task), tiny) for need in spec.needs}
    cfg = shrink(resolve(config_dir, BUDGET, method, task), tiny)
    return Setup(task, method, t.obs_dim, t.act_dim, cfg, needs, 8 * cfg.batch_size if tiny else TRANSITIONS)


def stand_in(su: Setup, need: str, cfg, workdir: Path) -> Path:
    """An untrained model of the configured size in its stage's checkpoint format: as fast as a trained one."""
    path = workdir / f"{need}-{su.task}-{hashlib.sha256(repr(cfg).encode()).hexdigest()[:12]}.pt"
    if not path.exists():
        registry.stage(need).stand_in(su.obs_dim, su.act_dim, cfg, path)
    return path


def random_demos(obs_dim: int, act_dim: int, n: int = TRANSITIONS) -> Demonstrations:
    g = torch.Generator().manual_seed(0)
    obs, act = torch.randn(n, obs_dim, generator=g), torch.randn(n, act_dim, generator=g)
    return Demonstrations(obs, act, Normalizer.empty(obs_dim), Normalizer.empty(act_dim), 1, "random")


def build_agent(su: Setup, data: Demonstrations, workdir: Path):
    """The agent as the pipeline builds it, through the registry. The action box is the data's
    (what Implicit BC samples in; the others ignore it)."""
    context = {"action_low": data.act.min(0).values, "action_high": data.act.max(0).values}
    context.update({need: stand_in(su, need, cfg, workdir) for need, cfg in su.needs.items()})
    return registry.parse(su.method).method.build(su.cfg, su.obs_dim, su.act_dim, context)


def epochs_for(su: Setup, n: int, updates: int) -> int:
    """Whole epochs (the suite trainer's unit) nearest to `updates`."""
    return max(1, round(updates / math.ceil(n / su.batch)))


def suite_rate(su: Setup, data: Demonstrations, epochs: int, workdir: Path,
               device: torch.device = CPU) -> float:
    """Updates/s of the suite's trainer as the pipeline runs it, on `device`; evaluation and saving excluded."""
    data = data.to(device)
    agent = build_agent(su, data, workdir).to(device)
    cfg = dataclasses.replace(su.cfg, epochs=epochs)
    state = workdir / f"state-{su.task}-{su.method}.pt"
    state.unlink(missing_ok=True)  # a leftover state would be resumed, not trained
    with contextlib.redirect_stdout(io.StringIO()):  # its progress lines are no benchmark output
        result = fit(agent, data, cfg, evaluate=lambda a: [], eval_points=1, state_path=state)
    state.unlink(missing_ok=True)
    return result.updates_per_second


def plain_sizes(su: Setup) -> plain.Sizes:
    dm = su.needs.get("diffusion_model")
    cfg = su.cfg
    return plain.Sizes(su.obs_dim, su.act_dim, su.batch, tuple(cfg.hidden),
                       counter_examples=getattr(cfg, "counter_examples", 0),
                       timesteps=getattr(cfg, "timesteps", 0), time_embed_dim=getattr(cfg, "time_embed_dim", 0),
                       dm_width=dm.width if dm else 0, dm_timesteps=dm.timesteps if dm else 0)


def trainer_row(su: Setup, rounds: int, seconds: float, workdir: Path, device: torch.device = CPU) -> dict:
    """The suite's updates/s against the plain loop's over the same number of updates (about
    `seconds` each), alternating; a method without a plain loop, or on a GPU, is timed alone."""
    torch.manual_seed(0)
    data = random_demos(su.obs_dim, su.act_dim, su.transitions)
    per_epoch = math.ceil(len(data) / su.batch)
    has_plain = su.method in plain.LOOPS and device.type == "cpu"
    sizes = plain_sizes(su) if has_plain else None

    def plain_run(updates: int) -> float:
        return plain.rate(su.method, sizes, data.obs, data.act, updates)

    def suite_run(updates: int) -> float:
        return suite_rate(su, data, epochs_for(su, len(data), updates), workdir, device)

    # Calibrated on the plain loop where there is one: it has no per-run fixed costs.
    epochs = epochs_for(su, len(data), calibrate(plain_run if has_plain else suite_run, seconds))
    runs = [lambda: suite_rate(su, data, epochs, workdir, device)]
    if has_plain:
        runs.append(lambda: plain_run(epochs * per_epoch))
    rates = alternating_medians(rounds, *runs)
    suite, baseline = rates[0], (rates[1] if has_plain else None)
    return {"task": su.task, "method": su.method, "batch": su.batch, "updates": epochs * per_epoch,
            "suite_updates_per_s": suite, "plain_updates_per_s": baseline,
            "speedup": suite / baseline if baseline else None}


def latency_batches(device: torch.device) -> tuple[int, ...]:
    """One env, and the evaluation's batch on `device` (envs.evaluation.Evaluation.envs_on): 10 on the CPU,
    every episode at once on a GPU."""
    return tuple(sorted({1, 10, Evaluation().envs_on(device)}))


def latency_row(su: Setup, min_seconds: float, workdir: Path, device: torch.device = CPU) -> dict:
    """Wall time of one `act` call on `device` (what each environment waits for its action) at each of its
    latency_batches."""
    torch.manual_seed(0)
    agent = build_agent(su, random_demos(su.obs_dim, su.act_dim, 100), workdir).to(device).eval()
    row = {"task": su.task, "method": su.method}
    for batch in latency_batches(device):
        obs = torch.randn(batch, su.obs_dim, device=device)
        row[f"latency_ms_batch{batch}"] = 1e3 * latency_per_call(
            lambda: agent.act(obs), repeats=5, min_seconds=min_seconds, sync=lambda: synchronize(device))
    return row


def pretrain_row(task: str, rounds: int, seconds: float, workdir: Path, device: torch.device = CPU,
                 tiny: bool = False) -> dict:
    """Updates/s of DBC's diffusion-model pre-training (methods.diffusion, the paper budget's width and batch)
    through the same trainer, on `device`."""
    from methods.diffusion import DiffusionModel

    t = envs.TASKS[task]
    cfg = shrink(resolve_stage(CONFIG_DIR, BUDGET, "diffusion_model", task), tiny)
    torch.manual_seed(0)
    data = random_demos(t.obs_dim, t.act_dim, 8 * cfg.batch_size if tiny else TRANSITIONS).to(device)
    per_epoch = math.ceil(len(data) / cfg.batch_size)

    def run(epochs: int) -> float:
        model = DiffusionModel(t.obs_dim, t.act_dim, cfg).to(device)
        state = workdir / f"state-dm-{task}.pt"
        state.unlink(missing_ok=True)
        with contextlib.redirect_stdout(io.StringIO()):
            result = fit(model, data, dataclasses.replace(cfg, epochs=epochs), evaluate=lambda m: [], eval_points=1,
                         state_path=state)
        state.unlink(missing_ok=True)
        return result.updates_per_second

    epochs = max(1, round(calibrate(lambda updates: run(max(1, round(updates / per_epoch))), seconds) / per_epoch))
    (rate,) = alternating_medians(rounds, lambda: run(epochs))
    return {"task": task, "stage": "diffusion_model", "width": cfg.width, "batch": cfg.batch_size,
            "updates": epochs * per_epoch, "updates_per_s": rate}
