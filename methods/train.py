"""The one training schedule every method shares, and the offline trainer it drives.

A trainer advances in units: the offline trainer's unit is one minibatch update; GAIL's
(methods.gail) is one PPO rollout with its discriminator round and PPO update. `run_training`
drives any `Trainer` to its end, and owns everything around the units:
- evaluations at `eval_points` evenly spaced units, the last at the end (`evaluation_points`);
- a log row every `log_every` units and at the end (and at each evaluation if the trainer asks);
- the resumable state (the trainer's `state_dict()` with the schedule's counter, log and curve),
  saved atomically at every evaluation and at least every `checkpoint_seconds`; on start, a saved
  state with this job's fingerprint is resumed and one with another is discarded, never resumed.
A trainer whose state cannot be saved after just any unit (GAIL's envs are mid-episode) declares
`segments`: the schedule then saves only at segment boundaries (every total // segments units,
each evaluation, the end) and tells the trainer when a unit starts a segment, where it puts
itself in a state that does not depend on what came before (GAIL resets its envs from seeds fixed
by the step count), so a run resumed at a boundary ends exactly as the uninterrupted one.

Offline training batches from tensors already in memory (no DataLoader, no per-batch conversion)
and reads the loss back to Python only at log points.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import nn

from dbc_bench.errors import BenchError
from dbc_bench.fields import option
from dbc_bench.io import load_checkpoint, save_torch_atomic
from methods.core import Demonstrations, linear_decay

STATE_VERSION = 3  # resumable states saved in another layout carry another fingerprint


@dataclass
class TrainConfig:
    """Optimisation settings shared by the offline methods (the authors' BC defaults)."""

    epochs: int = option(100, "passes over the demonstrations; updates = epochs * ceil(N / batch_size)", gt=0)
    batch_size: int = option(128, "transitions per update", gt=0)
    lr: float = option(1e-4, "Adam learning rate (initial, see lr_decay)", gt=0)
    adam_eps: float = option(1e-12, "Adam epsilon (the authors' 1e-12)", gt=0)
    weight_decay: float = option(0.0, "Adam's L2 penalty; 0 for the authors' methods", ge=0)
    grad_clip: float = option(0.5, "max gradient norm; 0 disables clipping", ge=0)
    lr_decay: str = option("linear", "linear (to 0 at the last update, as the authors) or constant",
                           choices=("linear", "constant"))
    normalize: bool = option(True, "z-score states and actions with the data's statistics (the authors do, "
                             "except for Implicit BC and Diffusion Policy on maze)")

    def total_updates(self, n_transitions: int) -> int:
        return self.epochs * math.ceil(n_transitions / self.batch_size)

    def describe_length(self, n_transitions: int) -> str:
        return f"{self.total_updates(n_transitions)} updates"


@dataclass
class TrainResult:
    updates: int        # the trainer's progress() at the end: updates (GAIL: env steps)
    train_seconds: float
    updates_per_second: float
    log: list[dict]     # periodic training statistics
    curve: list[dict]   # evaluation rows, each tagged "update" with the trainer's progress()


class Trainer(Protocol):
    """What `run_training` drives."""

    agent: nn.Module         # what `evaluate` receives
    total: int               # units in the run
    unit: str                # what one unit is, singular ("update", "rollout")
    segments: int | None     # boundaries per run where its state can be saved; None: after every unit
    log_evaluations: bool    # also a log row at each evaluation
    fingerprint: str         # its config and data, for the saved state's fingerprint

    def step(self, segment_start: bool) -> None:
        """Advance one unit; `segment_start`: the first unit of a run, of a resumed run, or after a boundary."""

    def log_row(self, units: int, seconds: float) -> dict:
        """Statistics since the previous row, over `units` units and `seconds` of training."""

    def summary(self, row: dict) -> str:
        """A row as one short line."""

    def progress(self) -> int:
        """What curve rows are tagged with and TrainResult.updates counts (updates; GAIL: env steps)."""

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def close(self) -> None: ...


def load_resume_state(state_path: Path, fingerprint: str, log: Callable[[str], None] = print) -> dict | None:
    """The saved training state to resume from, or None: absent, unreadable, or saved by a job
    with another fingerprint (config, data, seed), which is never resumed."""
    if not state_path.exists():
        return None
    try:
        state = load_checkpoint(state_path)
    except BenchError as exc:  # writes are atomic, so only outside damage gets here
        log(f"{exc}; starting afresh")
        return None
    if state.get("fingerprint") != fingerprint:
        log(f"{state_path}: saved state belongs to another config or dataset; starting afresh")
        return None
    return state


def evaluation_points(total_updates: int, points: int) -> list[int]:
    """`points` evaluations evenly spaced over training, the last one at the final update."""
    return sorted({max(1, round(total_updates * k / points)) for k in range(1, points + 1)})


def _print(line: str) -> None:
    print(line, flush=True)


# A progress line at least this often: every PROGRESS_SHARE of the units, or every PROGRESS_SECONDS.
PROGRESS_SHARE, PROGRESS_SECONDS = 0.02, 30.0


def _evaluation_summary(rows: list[dict]) -> str:
    if not rows:
        return ""
    success = sum(float(r.get("success", 0)) for r in rows) / len(rows)
    mean_return = sum(float(r.get("return", 0.0)) for r in rows) / len(rows)
    return f"  last evaluation: success {100 * success:.0f}%, return {mean_return:.1f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def run_training(trainer: Trainer, *, evaluate: Callable[[nn.Module], list[dict]], eval_points: int,
                 state_path: str | Path, fingerprint: str = "", log_every: int = 0,
                 checkpoint_seconds: float = 120.0, log: Callable[[str], None] = _print,
                 observe: Callable[[str, int, object], None] | None = None) -> TrainResult:
    """Train `trainer` to its end, resuming from `state_path` if it holds this job's state.

    `evaluate(trainer.agent)` runs at `eval_points` evenly spaced units (the last at the end); its
    rows, tagged "update" with the trainer's progress, form the returned curve. `fingerprint`
    identifies the job (config, data, seed) beside the trainer's own fingerprint. Log rows come
    every `log_every` units (default total // 50); evaluation and saving are not training time.
    A progress line (units, the last row's summary, rate, the last evaluation, time left) goes to `log`
    every 2% of the units or 30 s, whichever comes first; `observe(kind, units, data)` sees each log row
    ("train", the row) and each evaluation ("eval", its episode rows) as they happen.
    """
    state_path = Path(state_path)
    total = trainer.total
    eval_at = set(evaluation_points(total, eval_points))
    log_every = log_every or max(1, total // 50)
    every = max(1, total // trainer.segments) if trainer.segments else 1
    fingerprint = f"{fingerprint}|{trainer.fingerprint}|state v{STATE_VERSION}"

    done, rows, curve, spent = 0, [], [], 0.0
    state = load_resume_state(state_path, fingerprint, log)
    if state is not None:
        trainer.load_state_dict(state["trainer"])
        done, rows, curve, spent = state["units"], state["log"], state["curve"], state["train_seconds"]
        log(f"resuming from {state_path} after {done}/{total} {trainer.unit}s")

    progress = None
    if sys.stderr.isatty():
        from tqdm import tqdm
        progress = tqdm(total=total, initial=done, unit=trainer.unit, dynamic_ncols=True)

    # Training seconds = `spent` + the time since `mark`; evaluations and saves move `mark` on.
    mark = last_save = time.perf_counter()
    window_start, window_units = spent, 0
    segment_start = True
    line_every = max(1, int(total * PROGRESS_SHARE))
    started, started_units, line_time, line_units, last_eval = mark, done, mark, done, ""
    try:
        while done < total:
            trainer.step(segment_start)
            done += 1
            window_units += 1
            if progress is not None:
                progress.update(1)
            evaluating = done in eval_at
            if done % log_every == 0 or done == total or (evaluating and trainer.log_evaluations):
                clock = spent + time.perf_counter() - mark
                row = trainer.log_row(window_units, clock - window_start)
                rows.append(row)
                if observe is not None:
                    observe("train", trainer.progress(), row)
                window_start, window_units = clock, 0
            now = time.perf_counter()
            if rows and (done == total or done - line_units >= line_every or now - line_time >= PROGRESS_SECONDS):
                rate = (done - started_units) / max(now - started, 1e-9)
                log(f"{trainer.unit} {done}/{total} ({100 * done / total:.0f}%)  {trainer.summary(rows[-1])}"
                    f"{last_eval}  {_duration((total - done) / max(rate, 1e-9))} left")
                line_time, line_units = now, done
            segment_start = done % every == 0 or evaluating or done == total
            if evaluating or (segment_start and time.perf_counter() - last_save > checkpoint_seconds):
                spent += time.perf_counter() - mark
                if evaluating:
                    agent = trainer.agent
                    was_training = agent.training
                    agent.eval()
                    episodes = evaluate(agent)
                    curve.extend({"update": trainer.progress(), **r} for r in episodes)
                    last_eval = _evaluation_summary(episodes)
                    if observe is not None:
                        observe("eval", trainer.progress(), episodes)
                    agent.train(was_training)
                save_torch_atomic({"fingerprint": fingerprint, "units": done, "log": rows, "curve": curve,
                                   "train_seconds": spent, "trainer": trainer.state_dict()}, state_path)
                mark = last_save = time.perf_counter()
        spent += time.perf_counter() - mark
    finally:
        if progress is not None:
            progress.close()
        trainer.close()
    count = trainer.progress()
    return TrainResult(updates=count, train_seconds=spent, updates_per_second=count / max(spent, 1e-9),
                       log=rows, curve=curve)


# ----------------------------------------------------------------------------- offline training

def clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> None:
    """nn.utils.clip_grad_norm_, without its multiply by a coefficient clamped to exactly 1 (when
    the norm is within `max_norm`: most updates once a policy fits, e.g. on walker and hand_rotate),
    which cannot change a gradient. Skipped on CPU only, where testing the norm costs no device sync;
    elsewhere the multiply always runs, as in PyTorch."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    total = nn.utils.get_total_norm(grads)
    # Written as "not >= 1" so that a NaN norm still reaches the multiply, exactly as in PyTorch.
    if grads[0].device.type != "cpu" or not bool(max_norm / (total + 1e-6) >= 1.0):
        nn.utils.clip_grads_with_norm_(params, max_norm, total)


class OfflineTrainer:
    """An agent with `loss(obs, act) -> (loss, stats)` on demonstrations: one unit is one Adam
    update on a minibatch drawn with replacement, the learning rate decaying per `cfg.lr_decay`."""

    unit = "update"
    segments = None
    log_evaluations = True

    def __init__(self, agent: nn.Module, data: Demonstrations, cfg: TrainConfig):
        self.agent, self.data, self.cfg = agent, data, cfg
        self.total = cfg.total_updates(len(data))
        self.fingerprint = f"{cfg!r}|{len(data)}"
        self.params = [p for p in agent.parameters() if p.requires_grad]
        # The fused kernel is the same Adam, 1.3-2.5x faster on CPU (one pass over all parameters;
        # large for the diffusion model's timestep-embedding tables).
        self.optimizer = torch.optim.Adam(self.params, lr=cfg.lr, eps=cfg.adam_eps,
                                          weight_decay=cfg.weight_decay, fused=True)
        self.scheduler = (linear_decay(self.optimizer, self.total) if cfg.lr_decay == "linear"
                          else torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0))
        self.device = data.obs.device
        self._n, self._batch, self._clip = len(data), cfg.batch_size, cfg.grad_clip
        self.updates = 0
        self._last = None  # the latest update's (loss, stats), read back only for a log row
        agent.train()

    def step(self, segment_start: bool) -> None:
        idx = torch.randint(self._n, (self._batch,), device=self.device)
        loss, stats = self.agent.loss(self.data.obs[idx], self.data.act[idx])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self._clip > 0:
            clip_grad_norm(self.params, self._clip)
        self.optimizer.step()
        self.scheduler.step()
        self.updates += 1
        self._last = loss, stats

    def log_row(self, units: int, seconds: float) -> dict:
        loss, stats = self._last
        row = {"update": self.updates, "loss": loss.item(), "lr": self.scheduler.get_last_lr()[0],
               "updates_per_s": units / max(seconds, 1e-9), **{k: float(v) for k, v in stats.items()}}
        if not math.isfinite(row["loss"]):
            raise BenchError(f"training diverged: loss is {row['loss']} at update {self.updates}; "
                             f"lower the learning rate (lr={self.cfg.lr}) and rerun")
        return row

    def summary(self, row: dict) -> str:
        return f"loss {row['loss']:.5f}  {row['updates_per_s']:.0f} updates/s"

    def progress(self) -> int:
        return self.updates

    def state_dict(self) -> dict:
        state = {"agent": self.agent.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "rng": torch.get_rng_state(), "updates": self.updates}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.updates = state["updates"]

    def close(self) -> None:
        pass


def fit(agent: nn.Module, data: Demonstrations, cfg: TrainConfig, *,
        evaluate: Callable[[nn.Module], list[dict]], eval_points: int, state_path: Path,
        fingerprint: str = "", log_every: int = 0, checkpoint_seconds: float = 120.0,
        observe: Callable[[str, int, object], None] | None = None) -> TrainResult:
    """Train `agent` on `data` (OfflineTrainer under run_training); resume from `state_path` if it
    holds this job's state."""
    return run_training(OfflineTrainer(agent, data, cfg), evaluate=evaluate, eval_points=eval_points,
                        state_path=state_path, fingerprint=fingerprint, log_every=log_every,
                        checkpoint_seconds=checkpoint_seconds, observe=observe)
