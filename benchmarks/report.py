"""The benchmark's Markdown report: one table per comparison, each under a line saying what the
two sides are."""
from __future__ import annotations

import math

Column = tuple[str, str, str]  # (header, row key, format spec, or "rate" for rate())


def rate(x: float) -> str:
    """Three significant figures, whole numbers from 100: 680, 61.4, 0.498."""
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def cell(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return rate(value) if spec == "rate" else format(value, spec)
    return str(value)


def table(rows: list[dict], columns: list[Column]) -> str:
    """A Markdown table; a key a row lacks is a '-' cell."""
    lines = ["| " + " | ".join(h for h, _, _ in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(k), f) for _, k, f in columns) + " |" for r in rows]
    return "\n".join(lines)


def section(title: str, text: str, rows: list[dict], columns: list[Column]) -> str:
    body = table(rows, columns) if rows else "(not measured)"
    return f"## {title}\n\n" + (f"{text}\n\n" if text else "") + body


def render(report: dict) -> str:
    """`report`: what benchmarks.bench.run returns."""
    opts = report["options"]
    eval_methods = sorted({r["method"] for r in report["evaluation"]})
    device = opts.get("device", "cpu")
    parts = [
        f"# DBC-Bench speed benchmark\n\nDevice: {device} ({opts.get('device_name', 'CPU, one thread')}); "
        "the `paper` budget's network and batch sizes"
        + (" (TINY: a code-path check, figures meaningless)" if opts["tiny"] else "")
        + f". Each figure is the median over {opts['rounds']} alternating round{'s' * (opts['rounds'] != 1)}.",
        section("Training updates per second",
                "The suite's trainer (`methods.train.fit`, as the pipeline runs it) against a plain PyTorch "
                "loop of the same network, loss and batch (`benchmarks/plain.py`), over the same number of "
                "updates; peak RSS of a fresh process training one epoch.",
                report["trainers"], [
                    ("task", "task", ""), ("method", "method", ""), ("batch", "batch", ""),
                    ("suite", "suite_updates_per_s", "rate"), ("plain loop", "plain_updates_per_s", "rate"),
                    ("speed-up", "speedup", ".2f"), ("peak RSS MB", "peak_rss_mb", ".0f")]),
        section("Diffusion-model pre-training updates per second",
                "DBC's first stage (`methods.diffusion`) through the same trainer, at the paper budget's width "
                "and batch.", report.get("pretraining", []), [
                    ("task", "task", ""), ("width", "width", ""), ("batch", "batch", ""),
                    ("updates/s", "updates_per_s", "rate")]),
        section(f"Evaluation env steps per second ({', '.join(eval_methods)} policy in the loop) vs the raw env",
                "Raw env: one env stepped with random actions. Replay: the evaluation loop playing back the "
                "policy's recorded actions, i.e. the same trajectories and physics with no policy to run.",
                report["evaluation"], [
                    ("task", "task", ""), ("envs", "envs", ""), ("raw env", "raw_env_steps_per_s", ".0f"),
                    ("evaluation loop", "eval_env_steps_per_s", ".0f"), ("ratio", "ratio", ".2f"),
                    ("same loop, actions replayed", "replay_steps_per_s", ".0f"),
                    ("ratio to replay", "ratio_to_replay", ".2f")]),
        section("GAIL vs stable-baselines3 PPO alone (env steps per second, default-budget GAIL settings)",
                "", report["gail"], [
                    ("task", "task", ""), ("env steps", "env_steps", ""), ("envs", "n_envs", ""),
                    ("GAIL", "gail_env_steps_per_s", ".0f"), ("PPO alone", "ppo_env_steps_per_s", ".0f"),
                    ("ratio", "ratio", ".2f")]),
        section("Inference latency per action call (ms)", "", report["latency"], [
            ("task", "task", ""), ("method", "method", ""), ("batch 1", "latency_ms_batch1", ".3f"),
            ("batch 10", "latency_ms_batch10", ".3f"), ("batch 100", "latency_ms_batch100", ".3f")]),
    ]
    if report.get("not_configured"):
        parts.append("Not benchmarked (no config for the task, so the pipeline never runs them there): "
                     + ", ".join(report["not_configured"]) + ".")
    return "\n\n".join(parts) + "\n"
