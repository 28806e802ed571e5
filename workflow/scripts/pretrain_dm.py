"""Pre-train a task's diffusion model on its expert [s, a] pairs (DBC's first stage).

One model per task, shared by every DBC run on that task (its cost counts in DBC's). A small
random share of the pairs is held out; the log and loss_curve.csv report the denoising loss on
them. Writes into --out-dir: model.pt, loss_curve.csv, train_log.csv, config.json, timing.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from pathlib import Path

import torch

import envs
from methods.config import resolve_diffusion_model
from methods.core import (load_demonstrations, run_stage, save_atomic, seed_everything, select_device,
                          set_threads, write_json_atomic, write_text_atomic)
from methods.diffusion import DiffusionModel, heldout_loss
from methods.train import fit
from train_policy import to_csv


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--task", required=True)
    p.add_argument("--budget", required=True)
    p.add_argument("--config-dir", default="config", type=Path)
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--eval-points", type=int, default=10)
    args = p.parse_args(argv)
    return run_stage(lambda: run(args))


def run(args) -> None:
    wall_start = time.perf_counter()
    task = envs.get_task(args.task)
    cfg = resolve_diffusion_model(args.config_dir, args.budget, args.task)
    set_threads(args.threads)
    device = select_device(args.device)
    seed_everything(args.seed)
    data = load_demonstrations(args.dataset, task.obs_dim, task.act_dim).to(device)
    train, held = data.split(cfg.holdout_fraction, torch.Generator().manual_seed(args.seed))
    model = DiffusionModel(task.obs_dim, task.act_dim, cfg).to(device)
    print(f"diffusion model for {args.task}: width {cfg.width}, {len(train)} training / {len(held)} "
          f"held-out pairs, {cfg.total_updates(len(train))} updates on {device}", flush=True)
    initial = heldout_loss(model, held.obs, held.act)

    def evaluate(m) -> list[dict]:
        loss = heldout_loss(m, held.obs, held.act)
        print(f"held-out denoising loss {loss:.4f} (at initialisation {initial:.4f})", flush=True)
        return [{"heldout_loss": loss}]

    args.out_dir.mkdir(parents=True, exist_ok=True)
    result = fit(model, train, cfg, evaluate=evaluate, eval_points=args.eval_points,
                 state_path=args.out_dir / "state.pt",
                 fingerprint=f"{args.task}|{args.dataset}|{args.seed}|{len(held)}")
    write_text_atomic(args.out_dir / "train_log.csv", to_csv(result.log))
    write_text_atomic(args.out_dir / "loss_curve.csv",
                      to_csv([{"update": 0, "heldout_loss": initial}] + result.curve))
    write_json_atomic(args.out_dir / "config.json", {
        "task": args.task, "budget": args.budget, "seed": args.seed, "config": dataclasses.asdict(cfg),
        "dataset": str(args.dataset), "train_pairs": len(train), "heldout_pairs": len(held)})
    write_json_atomic(args.out_dir / "timing.json", {
        "updates": result.updates, "train_seconds": result.train_seconds,
        "updates_per_second": result.updates_per_second, "wall_seconds": time.perf_counter() - wall_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "heldout_loss_initial": initial, "heldout_loss_final": result.curve[-1]["heldout_loss"]})
    # Written last: the model's presence marks a finished pre-training.
    save_atomic({"model": model.state_dict(), "config": dataclasses.asdict(cfg),
                 "obs_mean": data.obs_norm.mean.cpu(), "act_mean": data.act_norm.mean.cpu()},
                args.out_dir / "model.pt")
    (args.out_dir / "state.pt").unlink(missing_ok=True)
    print(f"done: {result.updates_per_second:.0f} updates/s over {result.train_seconds:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
