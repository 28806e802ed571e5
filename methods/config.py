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


def resolve_diffusion_model(config_dir: str | Path, budget: str, task: str, overrides: dict | None = None,
                            overrides_from: str = ""):
    """The diffusion model's Config: config/diffusion_model/<task>.yaml, the budget's overrides, then
    `overrides` (a dm_budget variant's, named by `overrides_from`: `all:` then `<task>:` fields, as the
    budget's own sections)."""
    from methods.diffusion import Config

    config_dir = Path(config_dir)
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    files_task = _files_task(task)
    base_file = config_dir / "diffusion_model" / f"{files_task}.yaml" if files_task else "its defaults"
    values = read_yaml(base_file) if files_task else {}
    values.update(_overrides(read_yaml(budget_file), "diffusion_model", task, _tasks(), f"{budget_file}: "))
    if overrides:
        values.update(_overrides({"": overrides}, "", task, _tasks(), overrides_from))
    extra = f" + {overrides_from}" if overrides else ""
    return from_values(Config, values, f"{base_file} (+ {budget_file}{extra}) for the diffusion model")


def resolve_guidance_model(config_dir: str | Path, budget: str, task: str, kind: str):
    """A guidance model of the generative-model ablation (methods/guidance.py): the diffusion model's
    resolved training settings for the task (width, epochs, batch, learning rate: the same size and
    schedule), then config/guidance_model/<task>.yaml where present, the budget's `guidance_model`
    overrides, and the kind."""
    import dataclasses

    from methods.guidance import Config

    config_dir = Path(config_dir)
    budget_file = config_dir / "budgets" / f"{budget}.yaml"
    fields = {f.name for f in dataclasses.fields(Config)}
    dm = dataclasses.asdict(resolve_diffusion_model(config_dir, budget, task))
    values = {name: value for name, value in dm.items() if name in fields}
    own = config_dir / "guidance_model" / f"{task}.yaml"
    if own.is_file():
        values.update(read_yaml(own))
    values.update(_overrides(read_yaml(budget_file), "guidance_model", task, _tasks(), f"{budget_file}: "))
    values["kind"] = kind
    return from_values(Config, values, f"{own} (+ the diffusion model's, {budget_file}) for the {kind} model")
