"""Resolve one job's hyperparameters: the per-task file, then the budget's overrides.

config/methods/<method>/<task>.yaml and config/diffusion_model/<task>.yaml hold the authors'
settings (the `paper` budget uses them unchanged); config/budgets/<budget>.yaml may override any
field, under `methods: {<method>: ...}` or `diffusion_model:`, for all tasks (`all:`) or one task.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from methods import get_method
from methods.core import BenchError


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise BenchError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise BenchError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise BenchError(f"{path}: expected a mapping at the top level")
    return data


def _resolve(config_cls, base_file: Path, budget_file: Path, overrides: dict, task: str, what: str):
    values = read_yaml(base_file)
    values.update(overrides.get("all", {}) or {})
    values.update(overrides.get(task, {}) or {})
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise BenchError(f"{base_file} or {budget_file}: unknown field(s) {unknown} for {what}; "
                         f"known: {sorted(known)}")
    cfg = config_cls(**values)
    cfg.validate(source=f"{base_file} (+ {budget_file})")
    return cfg


def resolve(config_dir: str | Path, budget: str, method: str, task: str):
    """The method's Config for this (budget, method, task), every field checked."""
    config_dir = Path(config_dir)
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    overrides = (read_yaml(budget_file).get("methods") or {}).get(method) or {}
    return _resolve(get_method(method).Config, config_dir / "methods" / method / f"{task}.yaml",
                    budget_file, overrides, task, f"method '{method}'")


def resolve_diffusion_model(config_dir: str | Path, budget: str, task: str):
    from methods.diffusion import Config

    config_dir = Path(config_dir)
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    overrides = read_yaml(budget_file).get("diffusion_model") or {}
    return _resolve(Config, config_dir / "diffusion_model" / f"{task}.yaml", budget_file, overrides,
                    task, "the diffusion model")
