"""The plan: config/config.yaml and its budget, checked and resolved into everything the DAG runs.

`build(config)` validates the config (defaults filled from workflow/schemas/), checks every name it
holds against the registries, decides the folders (a custom run never writes over the committed
results), and answers what each job is: its runs, hyperparameters, stage configs, experiments and
report outputs. The Snakefile only turns a Plan into rules; nothing here needs Snakemake, so it is
tested directly (tests/test_plan.py) and written to results/<budget>/plan.json for the record.

Every problem is a BenchError of one line that names the config key or file.

Why this module is long: it is the one place where the config's keys meet the registries, and every
cross-check of a key belongs beside the key's resolution.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from functools import cached_property
from pathlib import Path

import envs
import envs.demos
import envs.importing
import envs.shipped
from analysis.files import GENERALIZATION_FILES, REPORT_FILES
from analysis.reference import check_shipped_runs
from dbc_bench import kernels, seeds
from dbc_bench.codehash import fingerprint, module_file
from dbc_bench.errors import BenchError
from dbc_bench.io import check_writable, read_json, read_yaml, write_text_atomic
from dbc_bench.schema import with_defaults
from envs.evaluation import Evaluation
from methods import pretrained, registry
from methods.config import check_budget_methods, resolve, resolve_stage
from pipeline import job

CONFIG_FILE = "config/config.yaml"
SCHEMAS = Path("workflow/schemas")
VERIFY_ROOT = "results/verify"


def checked(what: str, value):
    """`value()`, with a BenchError's message prefixed by `what` (the config key or file it concerns)."""
    try:
        return value()
    except BenchError as exc:
        raise BenchError(f"{what}: {exc}") from None


# `--config seeds=[1,2,3]` or `evaluation={videos: 1}` gives the nested values as strings: numbers are
# numbers (names and paths are left alone: no task or method name is a number).
def numbers(value):
    if isinstance(value, dict):
        return {key: numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [numbers(item) for item in value]
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value):
        return int(value) if re.fullmatch(r"[-+]?\d+", value) else float(value)
    return value


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` on top, nested mappings merged key by key (as Snakemake merges --config)."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def canonical_methods(names: list[str]) -> list[str]:
    """One name per run (registry.canonical): `dbc@lambda_dm=0.50` runs as `dbc@lambda_dm=0.5`, never twice."""
    return list(dict.fromkeys(registry.canonical(name) for name in names))


def run_dir(results: str, task: str, method: str, seed) -> str:
    return f"{results}/runs/{task}/{method}/seed{seed}"


def dataset_dir(results: str, task: str) -> str:
    return f"{results}/datasets/dbc/{task}/expert-v0"


def dataset_summary(results: str, task: str) -> str:
    return f"{results}/data/{task}.json"


def tasks_pattern(tasks) -> str:
    """A wildcard constraint matching exactly these task names (none: matches nothing)."""
    names = [re.escape(task) for task in tasks]
    return "|".join(names) if names else "(?!)"


# Code fingerprints (dbc_bench.codehash): a job reruns when the code it runs changes: its script and every
# project module that script imports, plus the modules it reaches by name at run time (the method's module
# through the registry, the task's env through its entry point). The closure includes dbc_bench.kernels, so
# changing the pinned kernels reruns every job too.
def code(script: str, *modules: str) -> str:
    mode = kernels.mode()  # native kernels give other bits than pinned ones: switching reruns the jobs
    return fingerprint(f"workflow/scripts/{script}", *modules) + ("" if mode == "pinned" else f" kernels={mode}")


def task_module(task: str) -> str:
    return module_file(envs.TASKS[task].module)


def method_code(script: str, method: str, task: str) -> str:
    return code(script, registry.parse(method).method.source_file, task_module(task))


def caption_file(stem: str, text: str) -> str:
    """`snakemake --report` reads captions from .rst files: each output's declared caption (analysis.files),
    written once per text under .snakemake/captions/."""
    path = Path(".snakemake/captions", f"{stem}.rst").resolve()
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    return str(path)


def retrained_expert_dir(task: str) -> str:
    return f"results/experts/{task}"


def rl_expert_tasks() -> list[str]:
    """Tasks whose expert is a trained policy: shipped in envs/experts/, or retrained (rule train_expert)."""
    return [name for name, task in envs.TASKS.items() if task.expert == "rl"]


def expert_recipe_file(recipe: str) -> str:
    return f"config/experts/{recipe}.yaml"


@dataclasses.dataclass(frozen=True)
class Plan:
    config: dict                 # config.yaml + overrides, defaults filled, method names canonical
    budget_name: str
    budget: dict                 # config/budgets/<budget>.yaml, defaults filled
    imported: dict               # task -> envs.importing.Source (config `datasets`)
    custom_inputs: tuple         # the config keys that make this run not the suite's own
    label: str                   # results/<budget>-<label>/ ('' for the suite's own runs)
    # Caches of resolved configs (the plan's answers are fixed; these only avoid resolving twice).
    _resolved: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    # ---- folders -------------------------------------------------------------------------------------
    @property
    def budget_file(self) -> str:
        return f"config/budgets/{self.budget_name}.yaml"

    @property
    def committed_results(self) -> str:
        """The suite's own runs of the budget (committed for `default`)."""
        return f"results/{self.budget_name}"

    @property
    def results(self) -> str:
        """Where this run's results go: a run on other data, tasks, experts or methods gets its own."""
        return f"results/{self.budget_name}-{self.label}" if self.label else self.committed_results

    @property
    def verify_results(self) -> str:
        return f"{VERIFY_ROOT}/{self.budget_name}"

    @property
    def rerender(self) -> bool:
        return self.config["rerender"] == "committed"

    @property
    def shipped_methods(self) -> list[str]:
        """`reference: shipped`: the reference methods not rerun here, joined from the committed runs."""
        if self.config["reference"] != "shipped":
            return []
        return [m for m in self.config["reference_methods"] if m not in self.config["methods"]]

    @property
    def paper_suffix(self) -> str:
        return "-vs-shipped" if self.config["reference"] == "shipped" else ""

    @property
    def paper(self) -> str:
        return f"paper/{self.budget_name}{f'-{self.label}' if self.label else ''}{self.paper_suffix}"

    @property
    def dm_budget_roots(self) -> dict[str, str]:
        """results root -> dm_budget variant: each variant's models and DBC runs under a root of its own."""
        return {f"{self.results}/dm_budget/{name}": name for name in self.budget["dm_budget"]}

    @property
    def results_roots(self) -> list[str]:
        """Every root the data, pre-training and training rules write under."""
        return [self.results, self.verify_results, *self.dm_budget_roots]

    def run_dir(self, task, method, seed, results: str | None = None) -> str:
        return run_dir(results or self.results, task, method, seed)

    def dataset_dir(self, task, results: str | None = None) -> str:
        return dataset_dir(results or self.results, task)

    def dataset_summary(self, task, results: str | None = None) -> str:
        return dataset_summary(results or self.results, task)

    # ---- tasks and their data ------------------------------------------------------------------------
    @property
    def tasks(self) -> list[str]:
        return self.config["tasks"]

    @property
    def seeds(self) -> list[int]:
        return self.config["seeds"]

    @property
    def rl_expert_tasks(self) -> list[str]:
        return rl_expert_tasks()

    @property
    def collected_tasks(self) -> list[str]:
        return [task for task in envs.TASKS if task not in self.imported]

    def env_kwargs(self, task: str) -> dict:
        return self.config["evaluation"]["env_kwargs"].get(task, {})

    def task_definitions(self, task: str) -> dict:
        """What a job of `task` must define before it runs (a task defined in config; else nothing)."""
        definitions = self.config["task_definitions"]
        return {task: definitions[task]} if task in definitions else {}

    def job_args(self, task: str) -> str:
        """What a job of `task` must register first (its task if defined in config, the method modules)."""
        return job.arguments(self.task_definitions(task), registry.used_modules())

    def retrained(self, task: str) -> bool:
        return task in self.rl_expert_tasks and self.config["experts"] == "retrained"

    def expert_recipe(self, task: str) -> str:
        """The recipe rule train_expert trains a task's expert by: config/experts/<task>.yaml, or the one
        config `expert_recipes` names (hand_rotate_ddpg_her: the authors' algorithm)."""
        return expert_recipe_file(self.config["expert_recipes"].get(task, task))

    def expert_file(self, task: str) -> str | None:
        """The RL expert file a task's demonstrations come from (None: a scripted expert)."""
        if task not in self.rl_expert_tasks:
            return None
        return f"{retrained_expert_dir(task)}/{task}.pt" if self.retrained(task) else f"envs/experts/{task}.pt"

    def expert_inputs(self, task: str) -> dict[str, str]:
        """collect_demos' input: the RL expert file (none for a scripted expert)."""
        path = self.expert_file(task)
        return {"expert": path} if path else {}

    def experts_dir_args(self, task: str) -> str:
        """Retrained experts (config `experts: retrained`) are loaded from their own folder."""
        return f"--experts-dir {retrained_expert_dir(task)}" if self.retrained(task) else ""

    def demos_mode(self, results: str) -> str:
        """`verify` always collects anew (and compares with the shipped card); the budget's runs follow `demos`."""
        return "regenerate" if results == self.verify_results else self.config["demos"]

    def shipped_demo_files(self, task: str, results: str) -> list[str]:
        """With `demos: shipped`, the committed files of the task's shipped dataset where its card's recipe
        is this run's (envs.shipped); none otherwise (imported data, a task defined in config, retrained experts)."""
        if self.demos_mode(results) != "shipped" or self.retrained(task) or task in self.imported:
            return []
        where = f"shipped dataset of '{task}'"
        wanted = checked(where, lambda: envs.shipped.recipe(task, self.budget["data"][task], 0, self.env_kwargs(task),
                                                            envs.demos.expert_file(task)))
        if not checked(where, lambda: envs.shipped.applies(task, wanted)):
            return []
        return [os.path.relpath(path) for path in envs.shipped.shipped_files(task)]

    def shipped_model_files(self, stage: str, task: str, results: str) -> list[str]:
        """With `diffusion_models: shipped`, the committed files of the stage's shipped model of the task
        (methods.pretrained) where its card's recipe is this job's: the task's data is its shipped dataset
        (whose bytes the dataset card names) and the hyperparameters are the root's; none otherwise."""
        if self.config["diffusion_models"] != "shipped" or not self.shipped_demo_files(task, results):
            return []
        where = f"shipped {registry.stage(stage).label} of '{task}'"
        data_sha = envs.shipped.read_card(task)["files"][pretrained.DATASET_FILE]["sha256"]
        wanted = pretrained.recipe(stage, task, self.stage_hyperparameters(stage, task, results), data_sha)
        if not checked(where, lambda: pretrained.applies(stage, task, wanted)):
            return []
        return [os.path.relpath(path) for path in pretrained.shipped_files(stage, task)]

    # ---- runs ----------------------------------------------------------------------------------------
    def main_runs(self) -> list[tuple[str, str, int]]:
        return [(t, m, s) for t in self.tasks for m in self.config["methods"] for s in self.seeds]

    def experiment_methods(self, name: str) -> list[str]:
        """An experiment lists its `methods`, or sweeps one `method`'s `field` over `values` (lambda_sweep)."""
        spec = self.config["experiments"][name]
        if "methods" in spec:
            return spec["methods"]
        return [f"{spec['method']}@{spec['field']}={value:g}" for value in spec["values"]]

    def experiment_runs(self, name: str) -> list[tuple[str, str, int]]:
        spec = self.config["experiments"][name]
        return [(t, m, s) for t in spec["tasks"] for m in self.experiment_methods(name) for s in self.seeds]

    @property
    def generalization(self) -> dict:
        return self.config["experiments"]["generalization"]

    def generalization_evals(self) -> list[str]:
        return [f"{self.results}/generalization/{m}/seed{s}/r{r:g}.csv"
                for m in self.config["methods"] for s in self.seeds for r in self.generalization["values"]]

    def experiment_run_dirs(self, name: str) -> list[str]:
        return [self.run_dir(*run) for run in self.experiment_runs(name)]

    def video_dirs(self) -> list[str]:
        """With `evaluation.videos: N`, every run's video folder (rule record_videos); else none."""
        return [f"{self.results}/videos/{t}/{m}/seed{s}" for t, m, s in self.main_runs()] if self.videos else []

    @property
    def dm_budget_tasks(self) -> list[str]:
        return self.config["experiments"]["dm_budget"]["tasks"]

    def dm_budget_variant_args(self) -> str:
        """--variant NAME 'quality files' 'DBC run folders' for each dm_budget variant (all tasks and seeds)."""
        args = []
        for root, name in self.dm_budget_roots.items():
            quality = " ".join(f"{root}/dm_quality/{t}.json" for t in self.dm_budget_tasks)
            runs = " ".join(self.run_dir(t, "dbc", s, root) for t in self.dm_budget_tasks for s in self.seeds)
            args.append(f"--variant {name} '{quality}' '{runs}'")
        return " ".join(args)

    def bc_run_dirs(self, task: str) -> list[str]:
        """The budget's BC runs of a task (the actions the model must rank below the expert's)."""
        return [self.run_dir(task, "bc", s) for s in self.seeds]

    @property
    def verify_runs(self) -> list[tuple[str, str, int]]:
        """`verify.runs` (<task>/<method>/seed<k>) as (task, method, seed)."""
        return [(t, m, int(s[len("seed"):])) for t, m, s in (Path(run).parts for run in self.config["verify"]["runs"])]

    @property
    def videos(self) -> int:
        return self.config["evaluation"]["videos"]

    # ---- what each job is given ----------------------------------------------------------------------
    def hyperparameters(self, method: str, task: str) -> dict:
        """The resolved config of one run: the job records it in run.json, and a change to one task's config
        reruns only that task's jobs."""
        key = ("method", method, task)
        if key not in self._resolved:
            cfg = checked("config 'methods'", lambda: resolve("config", self.budget_name, method, task))
            self._resolved[key] = dataclasses.asdict(cfg)
        return self._resolved[key]

    def stage_hyperparameters(self, name: str, task: str, results: str | None = None) -> dict:
        """A pre-training stage's config for a results root: the budget's, or under a dm_budget variant's root,
        with the variant's fields."""
        key = ("stage", name, task, results or self.results)
        if key not in self._resolved:
            variant = self.dm_budget_roots.get(results or self.results)
            overrides = self.budget["dm_budget"][variant] if variant else None
            where = f"{self.budget_file}: dm_budget.{variant}"
            cfg = checked(registry.stage(name).label,
                          lambda: resolve_stage("config", self.budget_name, name, task, overrides, where))
            self._resolved[key] = dataclasses.asdict(cfg)
        return self._resolved[key]

    def method_inputs(self, method: str, task: str, results: str | None = None) -> dict[str, str]:
        """The inputs the run's method declares in its registry entry (DBC: its task's diffusion model)."""
        run = registry.parse(method)
        return {need: registry.stage(need).model_path(results or self.results, task) for need in run.method.needs}

    def paper_lengths(self) -> dict:
        """method -> task -> the `paper` budget's training length ({epochs, batch_size} or {env_steps}), for the
        report's "Updates / paper's" column."""
        out: dict = {}
        for method in self.config["methods"] + self.shipped_methods:
            for task in self.tasks:
                self.hyperparameters(method, task)  # a bad override is named with this run's budget file first
                cfg = checked("config 'methods'", lambda: resolve("config", "paper", method, task))
                fields = ("env_steps",) if hasattr(cfg, "env_steps") else ("epochs", "batch_size")
                out.setdefault(method, {})[task] = {name: getattr(cfg, name) for name in fields}
        return out

    def run_protocol(self, task: str) -> dict:
        """The budget and evaluation protocol a committed run of `task` must have been made with."""
        episodes = self.budget["evaluation"]["episodes"]
        return {"budget": self.budget_name, "eval_episodes": episodes,
                "eval_seed_first": seeds.eval_seeds(episodes)[0], "eval_env_kwargs": self.env_kwargs(task)}

    def shipped_protocol(self) -> dict:
        return {task: self.run_protocol(task) for task in self.tasks}

    def shipped_run_dirs(self) -> list[str]:
        return [self.run_dir(t, m, s, self.committed_results)
                for t in self.tasks for m in self.shipped_methods for s in self.seeds]

    def shipped_latency_files(self) -> list[str]:
        """The shipped reference methods' committed latency files, where present (for the cost table)."""
        files = [f"{self.committed_results}/latency/{t}/{m}.json" for t in self.tasks for m in self.shipped_methods]
        return [path for path in files if Path(path).is_file()]

    def check_committed_runs(self, run_files: list[str]) -> None:
        """Each run (its eval_final.csv) checked as `reference: shipped` checks a shipped run, against the data
        summary of its own results root."""
        missing = [f for f in run_files if not Path(f).is_file()]
        if missing:
            raise BenchError(f"{Path(missing[0]).parent}: not committed ({len(missing)} run(s) missing), so there is "
                             "nothing to re-render it from; train it (without rerender), or leave its task or method "
                             "out of the config")
        by_root: dict = {}
        for path in run_files:
            run = Path(path).parent
            by_root.setdefault(str(run.parents[3]), []).append(run)  # <root>/runs/<task>/<method>/seed<k>
        for root, runs in sorted(by_root.items()):
            tasks = sorted({run.parts[-3] for run in runs})
            datasets = {t: read_json(dataset_summary(root, t)).get("files") for t in tasks}
            check_shipped_runs(runs, {t: self.run_protocol(t) for t in tasks}, datasets)

    def registry_labels(self) -> dict:
        """The labels and order of tasks and methods, for the reports (which never import the registries)."""
        return {"methods": registry.labels(), "tasks": {name: task.label for name, task in envs.TASKS.items()}}

    def provenance(self) -> str:
        """The command that makes this report, for its pages."""
        cfg = self.config
        extra = "".join([
            f" method_modules=[{','.join(cfg['method_modules'])}]" if cfg["method_modules"] else "",
            f" datasets=<imported for {','.join(cfg['datasets'])}>" if cfg["datasets"] else "",
            " reference=shipped" if self.shipped_methods else "",
        ])
        merged = (f"; merged the shipped runs of {', '.join(self.shipped_methods)} from {self.committed_results}/runs/"
                  if self.shipped_methods else "")
        return (f"snakemake all --config budget={self.budget_name} tasks=[{','.join(self.tasks)}] "
                f"methods=[{','.join(cfg['methods'])}] seeds=[{','.join(map(str, self.seeds))}]{extra}"
                f"{f' label={self.label}' if self.label else ''} (config/config.yaml, {self.budget_file}){merged}")

    @property
    def notice(self) -> str:
        """What a custom run says first: where its results go, and why."""
        if not self.label:
            return ""
        why = "config label" if self.config["label"] else ", ".join(self.custom_inputs)
        return f"DBC-Bench: this run's results go to {self.results}/ and {self.paper}/ ({why})"

    # ---- the DAG's size, for checks ------------------------------------------------------------------
    def stages_needed(self, runs) -> list[tuple[str, str]]:
        """(stage, task) of every pre-trained model the runs need."""
        return list(dict.fromkeys((need, task) for task, method, _ in runs
                                  for need in registry.parse(method).method.needs))

    @cached_property
    def all_jobs(self) -> dict[str, int]:
        """rule -> how many jobs `snakemake all` runs from nothing (no results yet, no rerender)."""
        runs = self.main_runs()
        jobs = {"collect_demos": sum(t not in self.imported for t in self.tasks),
                "import_demos": sum(t in self.imported for t in self.tasks),
                "train": len(runs), "measure_latency": len(self.tasks) * len(self.config["methods"]),
                "record_videos": len(runs) if self.videos else 0, "report": 1, "write_plan": 1, "all": 1}
        for stage, _ in self.stages_needed(runs):
            rule = registry.stage(stage).rule
            jobs[rule] = jobs.get(rule, 0) + 1
        return {rule: count for rule, count in jobs.items() if count}

    def as_json(self) -> dict:
        """The plan of target `all` as written to results/<budget>/plan.json: what this config runs, and where.
        The experiment targets' runs are left out: a config that changes only an experiment must not rerun
        `all`'s record of itself."""
        return {
            "budget": self.budget_name, "budget_file": self.budget_file, "label": self.label,
            "custom_inputs": list(self.custom_inputs), "results": self.results, "paper": self.paper,
            "tasks": self.tasks, "methods": self.config["methods"], "seeds": self.seeds,
            "runs": ["/".join(map(str, run)) for run in self.main_runs()],
            "stages": [f"{stage}/{task}" for stage, task in self.stages_needed(self.main_runs())],
            "report_outputs": [f"{self.paper}/{name}" for name in REPORT_FILES],
            "generalization_outputs": [f"{self.paper}/{name}" for name in GENERALIZATION_FILES],
            "jobs_of_all": self.all_jobs,
        }


def _check_names(config: dict, budget: dict, budget_file: str) -> dict:
    """Every task and method named anywhere in the config registered; returns the imported sources."""
    experiments = config["experiments"]
    for where, tasks in [("tasks", config["tasks"])] + [
            (f"experiments.{name}.tasks", spec["tasks"]) for name, spec in experiments.items() if "tasks" in spec]:
        for task in tasks:
            checked(f"config '{where}'", lambda: envs.get_task(task))
    named_methods = [(f"experiments.{name}.methods", spec["methods"]) for name, spec in experiments.items()
                     if "methods" in spec]
    for where, methods in [("methods", config["methods"])] + named_methods:
        for method in methods:
            checked(f"config '{where}'", lambda: registry.parse(method))
    config["methods"] = canonical_methods(config["methods"])
    config["reference_methods"] = canonical_methods(config["reference_methods"])
    for spec in experiments.values():
        if "methods" in spec:
            spec["methods"] = canonical_methods(spec["methods"])
    for task in budget["data"]:
        checked(f"{budget_file}: data", lambda: envs.get_task(task))
    for task, kwargs in config["evaluation"]["env_kwargs"].items():
        checked("config 'evaluation.env_kwargs'", lambda: envs.get_task(task).check_kwargs(kwargs))
    generalization = experiments["generalization"]
    checked("config 'experiments.generalization'",
            lambda: envs.get_task(generalization["task"]).check_kwargs({generalization["env_kwarg"]: 1.0}))
    checked("config 'experiments.lambda_sweep.method'", lambda: registry.parse(experiments["lambda_sweep"]["method"]))
    checked("config 'report.reference_method'", lambda: registry.parse(config["report"]["reference_method"]))
    for task in experiments["dm_budget"]["tasks"]:
        checked("config 'experiments.dm_budget.tasks'", lambda: envs.get_task(task))
    for run in config["verify"]["runs"]:  # <task>/<method>/seed<k> (the schema checks the shape)
        task, method, _ = Path(run).parts
        checked("config 'verify.runs'", lambda: envs.get_task(task))
        checked("config 'verify.runs'", lambda: registry.parse(method))
    # Demonstrations from outside the suite (envs.importing): each source checked now, by name.
    imported = {task: checked(f"config 'datasets.{task}'", lambda: envs.importing.parse_source(task, entry))
                for task, entry in config["datasets"].items()}
    for method in config["reference_methods"]:
        checked("config 'reference_methods'", lambda: registry.parse(method))
    for task, recipe in config["expert_recipes"].items():
        if task not in rl_expert_tasks():
            raise BenchError(f"config 'expert_recipes.{task}': not a task with an RL expert; choose from "
                             f"{', '.join(rl_expert_tasks())}")
        if not Path(expert_recipe_file(recipe)).is_file():
            raise BenchError(f"config 'expert_recipes.{task}': no file {expert_recipe_file(recipe)}")
    for task in config["tasks"]:
        if task not in budget["data"] and task not in imported:
            raise BenchError(f"{budget_file}: field 'data.{task}' is missing (task '{task}' is in config 'tasks')")
    return imported


def build(overrides: dict | None = None, config_file: str = CONFIG_FILE) -> Plan:
    """The plan of config/config.yaml with `overrides` (Snakemake's --config) on top, run from the checkout's
    root. Registers the config's method modules and tasks in this process (the jobs get them as arguments)."""
    config = merged(read_yaml(config_file), overrides or {})
    config.update({key: numbers(value) for key, value in config.items() if key != "datasets"})
    with_defaults(config, SCHEMAS / "config.schema.yaml", "config")
    checked("config 'method_modules'", lambda: registry.use_modules(config["method_modules"]))

    budget_name = config["budget"]
    budget_file = f"config/budgets/{budget_name}.yaml"
    if not Path(budget_file).is_file():
        raise BenchError(f"config 'budget': no file {budget_file}")
    budget = read_yaml(budget_file)
    with_defaults(budget, SCHEMAS / "budget.schema.yaml", budget_file)
    # The protocol's defaults live in envs.evaluation.Evaluation; the budget sets what differs.
    protocol = dataclasses.asdict(Evaluation())
    budget["evaluation"] = {**{k: protocol[k] for k in ("episodes", "num_envs", "points")}, **budget["evaluation"]}
    checked("config", lambda: check_budget_methods(Path(budget_file)))

    # Tasks defined in config without code (envs/configured.py); their demonstrations must be imported.
    checked("config 'task_definitions'", lambda: envs.define_tasks(config["task_definitions"]))
    for task in config["task_definitions"]:
        if task in config["tasks"] and task not in config["datasets"]:
            raise BenchError(f"config 'task_definitions.{task}': a task defined in config has no expert; "
                             f"give its demonstrations in 'datasets.{task}'")
    imported = _check_names(config, budget, budget_file)

    custom_inputs = tuple(key for key, custom in (
        ("datasets", config["datasets"]), ("task_definitions", config["task_definitions"]),
        ("experts: retrained", config["experts"] == "retrained"), ("method_modules", config["method_modules"]))
        if custom)
    label = config["label"] or ("custom" if custom_inputs else "")
    plan = Plan(config, budget_name, budget, imported, custom_inputs, label)
    if plan.rerender and (label or config["reference"] == "shipped"):
        raise BenchError("config 'rerender': re-renders the suite's own committed runs; it takes no custom inputs "
                         f"({', '.join(custom_inputs) or 'label'}) and no reference: shipped")
    # An unwritable output folder is one line now, not a traceback from the first job that writes there.
    for folder in (plan.results, plan.paper):
        checked("output folder", lambda: check_writable(folder))
    # Refuse incomparable shipped runs before anything trains (the dataset is checked by the report job).
    if plan.shipped_methods:
        checked("config 'reference: shipped'",
                lambda: check_shipped_runs(plan.shipped_run_dirs(), plan.shipped_protocol()))
    return plan


def main(argv=None) -> int:
    """`python -m pipeline.plan [key=value ...]`: the plan of config/config.yaml (with Snakemake-style
    --config overrides) as JSON on stdout, or one line naming the problem."""
    import sys

    overrides = dict(item.partition("=")[::2] for item in (sys.argv[1:] if argv is None else argv))
    overrides = {key: read_yaml_text(value) for key, value in overrides.items()}
    try:
        print(json.dumps(build(overrides).as_json(), indent=1, sort_keys=True))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def read_yaml_text(text: str):
    """A --config value as Snakemake reads it (YAML: `[maze,walker]` is a list)."""
    import yaml

    return yaml.safe_load(text)


__all__ = ["Plan", "build", "checked", "main", "VERIFY_ROOT"]

if __name__ == "__main__":
    raise SystemExit(main())
