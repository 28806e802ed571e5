"""Resolve one job's hyperparameters, once, from the config files and the budget.

For a run of method M (with `config_base` chain, e.g. dbc -> bc) on task T under budget B:
1. config/methods/<base>/<T>.yaml, then config/methods/<M>/<T>.yaml (the authors' settings: a
   method's file holds only what it adds to its base's); a method from outside the repository
   reads its own config_dir's <T>.yaml where it has one (MethodSpec.config_file);
2. the budget's overrides for each method of the chain, `all:` then `<T>:`
   (config/budgets/<B>.yaml, `methods: {<method>: {all: ..., <T>: ...}}`);
3. a variant's fixed fields, then the budget's overrides for the variant;
4. the run's own overrides (`dbc@lambda_dm=0.5`).
Every key is checked: unknown methods, tasks and fields are one-line errors naming the choices.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from dbc_bench.errors import BenchError
from dbc_bench.fields import from_values
from dbc_bench.io import read_yaml
from methods import registry


def _overrides(section: dict, key: str, task: str, tasks: list[str], where: str) -> dict:
    """The `all:` then `<task>:` overrides of `section[key]`, every task key checked."""
    entry = section.get(key) or {}
    if not isinstance(entry, dict):
        raise BenchError(f"{where}{key}: expected a mapping of 'all' or task names to fields")
    unknown = sorted(set(entry) - {"all", *tasks})
    if unknown:
        raise BenchError(f"{where}{key}: unknown task(s) {', '.join(unknown)}; choose from all, {', '.join(tasks)}")
    values = {}
    for part in ("all", task):
        block = entry.get(part) or {}
        if not isinstance(block, dict):
            raise BenchError(f"{where}{key}.{part}: expected a mapping of fields")
        values.update(block)
    return values


def _chain(method: registry.MethodSpec) -> list[registry.MethodSpec]:
    chain = [method]
    while chain[0].config_base:
        base = registry.methods().get(chain[0].config_base)
        if base is None or base in chain:
            raise BenchError(f"{chain[0].module}: config_base '{chain[0].config_base}' is not a registered method "
                             f"(or forms a cycle); choose from {', '.join(registry.methods())}")
        chain.insert(0, base)
    return chain


def _tasks() -> list[str]:
    import envs

    return list(envs.TASKS)


def _files_task(task: str) -> str | None:
    """The task whose per-task files hold `task`'s hyperparameters: itself, or for a task defined in
    config its `config_like` task (None: the configs' defaults)."""
    import envs

    entry = envs.get_task(task)
    return entry.config_like if entry.defined_in_config else task


def check_budget_methods(budget_file: Path) -> dict:
    """The budget's `methods:` section, its method names checked against the registry."""
    section = read_yaml(budget_file).get("methods") or {}
    unknown = sorted(set(section) - set(registry.names()))
    if unknown:
        choices = ", ".join(registry.names())
        raise BenchError(f"{budget_file}: methods.{unknown[0]} is not a method; choose from {choices}")
    return section


def resolve(config_dir: str | Path, budget: str, run_name: str, task: str):
    """The Config of run `run_name` ('dbc_nonorm@lambda_dm=1') on `task` under `budget`."""
    config_dir = Path(config_dir)
    run = registry.parse(run_name)
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    section = check_budget_methods(budget_file)
    tasks = _tasks()
    where = f"{budget_file}: methods."
    values: dict = {}
    chain = _chain(run.method)
    files_task = _files_task(task)
    files = [method.config_file(config_dir, files_task) if files_task else None for method in chain]
    for path in files:
        if path is not None:
            values.update(read_yaml(path))
    for method in chain:
        values.update(_overrides(section, method.name, task, tasks, where))
    if run.variant:
        values.update(run.variant.overrides)
        values.update(_overrides(section, run.variant.name, task, tasks, where))
    values.update(run.overrides)
    named = " + ".join(str(path) for path in files if path is not None) or f"{run.method.module}'s defaults"
    return from_values(run.method.config, values, f"{named} (+ {budget_file}) for method '{run_name}'")


def configured(config_dir: str | Path, run_name: str, task: str) -> bool:
    """Whether every config file `resolve` reads for this run on `task` exists: a method may be configured for
    some tasks only (dbc_action_dm for its experiment's)."""
    files_task = _files_task(task)
    return not files_task or all(method.config_file(Path(config_dir), files_task).is_file()
                                 for method in _chain(registry.parse(run_name).method))


def resolve_stage(config_dir: str | Path, budget: str, name: str, task: str, overrides: dict | None = None,
                  overrides_from: str = ""):
    """A pre-training stage's Config (registry.StageSpec): its base stage's resolved fields where it has
    one, else its defaults; then config/<config_files>/<task>.yaml (required for a stage without a base,
    for a task with config files), the budget's `<config_files>` section, its fixed fields, and last
    `overrides` (a dm_budget variant's, named by `overrides_from`: `all:` then `<task>:` fields, as the
    budget's own sections; given to the base stage, so a derived stage inherits them)."""
    stage = registry.stage(name)
    config_dir = Path(config_dir)
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    fields = {f.name for f in dataclasses.fields(stage.config)}
    values, sources = {}, []
    if stage.base:
        base = resolve_stage(config_dir, budget, stage.base, task, overrides, overrides_from)
        values = {key: value for key, value in dataclasses.asdict(base).items() if key in fields}
        sources.append(f"the {registry.stage(stage.base).label}'s fields")
    files_task = _files_task(task)
    own = config_dir / stage.config_files / f"{files_task}.yaml" if files_task else None
    if own is not None and (own.is_file() or not stage.base):
        values.update(read_yaml(own))
        sources.append(str(own))
    values.update(_overrides(read_yaml(budget_file), stage.config_files, task, _tasks(), f"{budget_file}: "))
    sources.append(str(budget_file) + (f" + {overrides_from}" if overrides else ""))
    values.update(dict(stage.fixed))
    if overrides and not stage.base:
        values.update(_overrides({"": overrides}, "", task, _tasks(), overrides_from))
    return from_values(stage.config, values, f"{' + '.join(sources)} for the {stage.label}")
