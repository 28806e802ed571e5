"""Resolve one job's hyperparameters: the per-task file, then the budget's overrides.

config/methods/<method>/<task>.yaml and config/diffusion_model/<task>.yaml hold the authors'
settings (the `paper` budget uses them unchanged); config/budgets/<budget>.yaml may override any
field, under `methods: {<method>: ...}` or `diffusion_model:`, for all tasks (`all:`) or one task.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from methods import base_method, get_method, split_method
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


def _resolve(config_cls, base_file: Path, budget_file: Path, overrides: dict, task: str, what: str,
             run_overrides: dict | None = None):
    values = read_yaml(base_file)
    values.update(overrides.get("all", {}) or {})
    values.update(overrides.get(task, {}) or {})
    values.update(run_overrides or {})
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise BenchError(f"{base_file} or {budget_file}: unknown field(s) {unknown} for {what}; "
                         f"known: {sorted(known)}")
    cfg = config_cls(**values)
    cfg.validate(source=f"{base_file} (+ {budget_file})")
    return cfg


def resolve(config_dir: str | Path, budget: str, method: str, task: str):
    """The method's Config for this (budget, method, task), every field checked. `method` may
    carry run overrides (`dbc@lambda_dm=0.5`), applied last."""
    config_dir = Path(config_dir)
    name, run_overrides = split_method(method)
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    budget_methods = read_yaml(budget_file).get("methods") or {}
    overrides = budget_methods.get(name, budget_methods.get(base_method(name))) or {}
    return _resolve(get_method(name).Config, config_dir / "methods" / name / f"{task}.yaml",
                    budget_file, overrides, task, f"method '{method}'", run_overrides)


def resolve_diffusion_model(config_dir: str | Path, budget: str, task: str):
    from methods.diffusion import Config

    config_dir = Path(config_dir)
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    overrides = read_yaml(budget_file).get("diffusion_model") or {}
    return _resolve(Config, config_dir / "diffusion_model" / f"{task}.yaml", budget_file, overrides,
                    task, "the diffusion model")
