"""The one training loop every offline method uses.

Batches are drawn from tensors already in memory (no DataLoader, no per-batch conversion), the
loss is read back to Python only at log points, and the full training state is checkpointed
atomically so a killed job resumes where it stopped and ends with the same result.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from methods.core import BenchError, Demonstrations, linear_decay, load_checkpoint, save_atomic


@dataclass
class TrainConfig:
    """Optimisation settings shared by the offline methods (the authors' BC defaults)."""

    epochs: int = 100          # passes over the demonstrations; updates = epochs * ceil(N / batch)
    batch_size: int = 128
    lr: float = 1e-4
    adam_eps: float = 1e-12
    weight_decay: float = 0.0  # Adam's L2 penalty; 0 for the authors' methods
    grad_clip: float = 0.5     # max grad norm; 0 disables
    lr_decay: str = "linear"   # "linear" (to 0 at the end, as the authors) or "constant"

    def validate(self, source: str) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("epochs", "batch_size") and (not isinstance(value, int) or value <= 0):
                raise BenchError(f"{source}: field '{f.name}' must be a positive integer, got {value!r}")
            if f.name == "lr" and not (isinstance(value, (int, float)) and value > 0):
                raise BenchError(f"{source}: field 'lr' must be a positive number, got {value!r}")
            if f.name in ("weight_decay", "grad_clip") and not (isinstance(value, (int, float)) and value >= 0):
                raise BenchError(f"{source}: field '{f.name}' must be >= 0, got {value!r}")
        if self.lr_decay not in ("linear", "constant"):
            raise BenchError(f"{source}: field 'lr_decay' must be 'linear' or 'constant', got {self.lr_decay!r}")

    def total_updates(self, n_transitions: int) -> int:
        return self.epochs * math.ceil(n_transitions / self.batch_size)


@dataclass
class TrainResult:
    updates: int
    train_seconds: float
    updates_per_second: float
    log: list[dict]     # periodic training statistics
    curve: list[dict]   # evaluation rows, each tagged with its update


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


def fit(agent: nn.Module, data: Demonstrations, cfg: TrainConfig, *,
        evaluate: Callable[[nn.Module], list[dict]], eval_points: int, state_path: Path,
        fingerprint: str = "", log_every: int = 0, checkpoint_seconds: float = 120.0) -> TrainResult:
    """Train `agent` on `data`; resume from `state_path` if present.

    `evaluate(agent)` runs at `eval_points` evenly spaced updates (the last at the end); its rows,
    tagged with the update, form the returned curve. `fingerprint` identifies the job (config,
    data, seed): a saved state with another fingerprint is discarded, never resumed.
    """
    total = cfg.total_updates(len(data))
    params = [p for p in agent.parameters() if p.requires_grad]
    # The fused kernel is the same Adam, 1.3-2.5x faster on CPU (one pass over all parameters;
    # large for the diffusion model's timestep-embedding tables).
    optimizer = torch.optim.Adam(params, lr=cfg.lr, eps=cfg.adam_eps, weight_decay=cfg.weight_decay,
                                 fused=True)
    scheduler = (linear_decay(optimizer, total) if cfg.lr_decay == "linear"
                 else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0))
    eval_at = set(evaluation_points(total, eval_points))
    log_every = log_every or max(1, total // 50)
    device = data.obs.device

    fingerprint = f"{fingerprint}|{cfg!r}|{len(data)}"
    update, log, curve, spent = 0, [], [], 0.0
    state = load_resume_state(state_path, fingerprint, lambda line: print(line, flush=True))
    if state is not None:
        agent.load_state_dict(state["agent"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        update, log, curve, spent = state["update"], state["log"], state["curve"], state["train_seconds"]
        print(f"resuming from {state_path} at update {update}/{total}", flush=True)

    def save_state() -> None:
        state = {"agent": agent.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                 "update": update, "log": log, "curve": curve, "train_seconds": spent,
                 "fingerprint": fingerprint}
        if device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(device)
        save_atomic(state, state_path)

    progress = None
    if sys.stderr.isatty():
        from tqdm import tqdm
        progress = tqdm(total=total, initial=update, unit="upd", dynamic_ncols=True)

    n = len(data)
    agent.train()
    window_start, window_updates, last_save = time.perf_counter(), 0, time.perf_counter()
    while update < total:
        idx = torch.randint(n, (cfg.batch_size,), device=device)
        loss, stats = agent.loss(data.obs[idx], data.act[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            clip_grad_norm(params, cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        update += 1
        window_updates += 1
        if progress is not None:
            progress.update(1)

        if update % log_every == 0 or update == total or update in eval_at:
            now = time.perf_counter()
            spent += now - window_start
            rate = window_updates / max(now - window_start, 1e-9)
            row = {"update": update, "loss": loss.item(), "lr": scheduler.get_last_lr()[0],
                   "updates_per_s": rate, **{k: float(v) for k, v in stats.items()}}
            if not math.isfinite(row["loss"]):
                raise BenchError(f"training diverged: loss is {row['loss']} at update {update}; "
                                 f"lower the learning rate (lr={cfg.lr}) and rerun")
            log.append(row)
            if update % (log_every * 10) == 0 or update == total:
                print(f"update {update}/{total}  loss {row['loss']:.5f}  {rate:.0f} updates/s", flush=True)
            if update in eval_at:
                agent.eval()
                rows = evaluate(agent)
                agent.train()
                curve.extend({"update": update, **r} for r in rows)
            if update in eval_at or time.perf_counter() - last_save > checkpoint_seconds:
                save_state()
                last_save = time.perf_counter()
            window_start, window_updates = time.perf_counter(), 0
    if progress is not None:
        progress.close()
    return TrainResult(updates=total, train_seconds=spent, updates_per_second=total / max(spent, 1e-9),
                       log=log, curve=curve)
