# Shared helpers: config checks, the budget, the registries, and the paths every stage agrees on.
import dataclasses
import json
import os
import re
import shlex
import sys
from functools import lru_cache
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

import envs
import envs.demos
import envs.importing
import envs.shipped
from analysis.files import (
    EXPERIMENTS,
    GENERALIZATION_FILES,
    GUIDANCE_FILES,
    MAIN_OUTPUTS,
    REPORT_FILES,
    RUN_EXPERIMENTS,
    SENSITIVITY_FILES,
    VIDEOS_CAPTION,
)
from analysis.loading import COMPLETENESS_MARKER
from analysis.reference import check_shipped_runs
from dbc_bench import checkout, kernels, seeds, tracking
from dbc_bench.codehash import fingerprint, module_file
from dbc_bench.errors import BenchError
from dbc_bench.io import check_writable, read_json, read_yaml, write_text_atomic
from dbc_bench.schema import problem as schema_problem
from envs.evaluation import Evaluation
from methods import registry
from methods.config import check_budget_methods, resolve, resolve_stage

# The fingerprints below cover the files of the checkout Python imports the packages from: it must be this one.
if checkout.ROOT != Path(workflow.basedir).resolve():
    print(
        f"error: this workflow is {Path(workflow.basedir).resolve()}, but Python imports its packages from "
        f"{checkout.ROOT} (the virtual environment is installed from there); run ./setup.sh here and use its .venv",
        file=sys.stderr,
    )
    raise SystemExit(1)

# Importing dbc_bench set the pinned CPU kernel variables (dbc_bench.kernels) in this process's
# environment; every job inherits them, so each job's numerical libraries load pinned.
KERNELS_MODE = kernels.mode()


def checked(what, value):
    """`value()`; a BenchError becomes one line on stderr and exit status 1 (no traceback)."""
    try:
        return value()
    except BenchError as exc:
        print(f"error: {what}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


# `--config seeds=[1,2,3]` or `evaluation={videos: 1}` gives the nested values as strings: numbers
# are numbers (names and paths are left alone: no task or method name is a number).
def _numbers(value):
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value):
        return int(value) if re.fullmatch(r"[-+]?\d+", value) else float(value)
    return value


def schema_checked(data, schema, where):
    """One line naming the key and what is allowed (dbc_bench.schema), then Snakemake's validation, which
    fills in the defaults."""
    found = schema_problem(data, Path(workflow.basedir) / "workflow" / "schemas" / schema)
    if found:
        print(f"error: {where}{' ' if found.startswith(chr(39)) else ': '}{found}", file=sys.stderr)
        raise SystemExit(1)
    validate(data, f"../schemas/{schema}", set_default=True)


config.update({key: _numbers(value) for key, value in config.items() if key != "datasets"})
schema_checked(config, "config.schema.yaml", "config")

# Methods from outside the repository (config key `method_modules`): registered here, and in every
# job through the environment it inherits (methods.registry).
checked("config 'method_modules'", lambda: registry.use_modules(config["method_modules"]))

# Tracking reaches the training jobs through their environment, not their command: switching it reruns nothing.
os.environ[tracking.VARIABLE] = config["tracking"]

BUDGET = config["budget"]
BUDGET_FILE = f"config/budgets/{BUDGET}.yaml"
if not Path(BUDGET_FILE).is_file():
    raise WorkflowError(f"config 'budget': no file {BUDGET_FILE}")
with open(BUDGET_FILE) as _f:
    budget = yaml.safe_load(_f)
schema_checked(budget, "budget.schema.yaml", BUDGET_FILE)
# The protocol's defaults live in envs.evaluation.Evaluation; the budget sets what differs.
_protocol = dataclasses.asdict(Evaluation())
budget["evaluation"] = {**{k: _protocol[k] for k in ("episodes", "num_envs", "points")}, **budget["evaluation"]}
checked("config", lambda: check_budget_methods(Path(BUDGET_FILE)))

# Tasks defined in config without code (envs/configured.py): registered here and, through the environment,
# in every job. Their demonstrations must be imported (`datasets`).
checked("config 'task_definitions'", lambda: envs.define_tasks(config["task_definitions"]))
for _task in config["task_definitions"]:
    if _task in config["tasks"] and _task not in config["datasets"]:
        raise WorkflowError(
            f"config 'task_definitions.{_task}': a task defined in config has no expert; "
            f"give its demonstrations in 'datasets.{_task}'"
        )

# Every task and method named anywhere in the config must be registered (envs.TASKS, methods.registry).
for _where, _tasks in [("tasks", config["tasks"])] + [
    (f"experiments.{name}.tasks", spec["tasks"]) for name, spec in config["experiments"].items() if "tasks" in spec
]:
    for _task in _tasks:
        checked(f"config '{_where}'", lambda: envs.get_task(_task))
for _where, _methods in [("methods", config["methods"])] + [
    (f"experiments.{name}.methods", spec["methods"])
    for name, spec in config["experiments"].items()
    if "methods" in spec
]:
    for _method in _methods:
        checked(f"config '{_where}'", lambda: registry.parse(_method))


# One name per run (registry.canonical): `dbc@lambda_dm=0.50` runs as `dbc@lambda_dm=0.5`, never twice.
def canonical_methods(names):
    return list(dict.fromkeys(registry.canonical(name) for name in names))


config["methods"] = canonical_methods(config["methods"])
config["reference_methods"] = canonical_methods(config["reference_methods"])
for _spec in config["experiments"].values():
    if "methods" in _spec:
        _spec["methods"] = canonical_methods(_spec["methods"])
for _task in budget["data"]:
    checked(f"{BUDGET_FILE}: data", lambda: envs.get_task(_task))
for _task, _kwargs in config["evaluation"]["env_kwargs"].items():
    checked("config 'evaluation.env_kwargs'", lambda: envs.get_task(_task).check_kwargs(_kwargs))
checked(
    "config 'experiments.generalization'",
    lambda: envs.get_task(config["experiments"]["generalization"]["task"]).check_kwargs(
        {config["experiments"]["generalization"]["env_kwarg"]: 1.0}
    ),
)
checked(
    "config 'experiments.lambda_sweep.method'", lambda: registry.parse(config["experiments"]["lambda_sweep"]["method"])
)
checked("config 'report.reference_method'", lambda: registry.parse(config["report"]["reference_method"]))
for _task in config["experiments"]["dm_budget"]["tasks"]:
    checked("config 'experiments.dm_budget.tasks'", lambda: envs.get_task(_task))
# `verify.runs`: <task>/<method>/seed<k> (the schema checks the shape).
VERIFY_RUNS = [Path(run).parts for run in config["verify"]["runs"]]
for _task, _method, _ in VERIFY_RUNS:
    checked("config 'verify.runs'", lambda: envs.get_task(_task))
    checked("config 'verify.runs'", lambda: registry.parse(_method))
# Demonstrations from outside the suite (envs.importing): each source checked now, by name.
IMPORTED = {
    _task: checked(f"config 'datasets.{_task}'", lambda: envs.importing.parse_source(_task, _entry))
    for _task, _entry in config["datasets"].items()
}
for _method in config["reference_methods"]:
    checked("config 'reference_methods'", lambda: registry.parse(_method))
for _task in config["tasks"]:
    if _task not in budget["data"] and _task not in IMPORTED:
        raise WorkflowError(f"{BUDGET_FILE}: field 'data.{_task}' is missing (task '{_task}' is in config 'tasks')")


# Rules call `python`: the interpreter running Snakemake (the project's .venv, where setup.sh
# installed this repository) comes first on PATH, also for cluster jobs, unless a conda
# environment (SOFTWARE, which installs the repository too) is activated on top of it.
envvars:
    "PATH",


_search_path = os.environ["PATH"]
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), _search_path])
SOFTWARE = "../envs/dbc-bench.yaml"
# The suite's own runs of a budget live in results/<budget>/ (committed for `default`). A run on other
# data, tasks, experts or methods gets folders of its own, so that it can never overwrite those.
COMMITTED_RESULTS = f"results/{BUDGET}"
CUSTOM_INPUTS = [
    key
    for key, custom in (
        ("datasets", config["datasets"]),
        ("task_definitions", config["task_definitions"]),
        ("experts: retrained", config["experts"] == "retrained"),
        ("method_modules", config["method_modules"]),
    )
    if custom
]
LABEL = config["label"] or ("custom" if CUSTOM_INPUTS else "")
RESULTS = f"results/{BUDGET}-{LABEL}" if LABEL else COMMITTED_RESULTS
# `rerender: committed`: the committed runs re-rendered as they are (workflow/rules/rerender.smk).
RERENDER = config["rerender"] == "committed"
if RERENDER and (LABEL or config["reference"] == "shipped"):
    raise WorkflowError(
        "config 'rerender': re-renders the suite's own committed runs; it takes no custom inputs "
        f"({', '.join(CUSTOM_INPUTS) or 'label'}) and no reference: shipped"
    )
# The `verify` target reruns a few committed runs, datasets and all, with the same rules, here.
VERIFY_RESULTS = f"results/verify/{BUDGET}"
# The `dm_budget` target: each variant's diffusion model, DBC runs and model quality under a results root
# of its own (its data unpacked there again), beside the budget's BC runs.
DM_BUDGET = config["experiments"]["dm_budget"]
DM_BUDGET_VARIANTS = budget["dm_budget"]
DM_BUDGET_ROOTS = {f"{RESULTS}/dm_budget/{name}": name for name in DM_BUDGET_VARIANTS}
DM_BUDGET_FILES = [f"dm_budget.{ext}" for ext in ("md", "csv", "pdf", "png")] + [
    f"dm_budget_activity.{ext}" for ext in ("pdf", "png")
]
# `reference: shipped`: the committed runs of the reference methods not rerun here join the report
# (analysis/reference.py), which then goes to its own folder, beside the committed one.
SHIPPED_METHODS = (
    [m for m in config["reference_methods"] if m not in config["methods"]] if config["reference"] == "shipped" else []
)
PAPER_SUFFIX = "-vs-shipped" if config["reference"] == "shipped" else ""
PAPER = f"paper/{BUDGET}{f'-{LABEL}' if LABEL else ''}{PAPER_SUFFIX}"
if LABEL:
    print(
        f"DBC-Bench: this run's results go to {RESULTS}/ and {PAPER}/ "
        f"({'config label' if config['label'] else ', '.join(CUSTOM_INPUTS)})",
        file=sys.stderr,
    )
# An unwritable output folder is one line now, not a traceback from the first job that writes there.
for _folder in (RESULTS, PAPER):
    checked("output folder", lambda: check_writable(_folder))
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"


wildcard_constraints:
    # the results folder of the data, pre-training and training rules: the budget's, or verify's
    results="|".join(re.escape(root) for root in (RESULTS, VERIFY_RESULTS, *DM_BUDGET_ROOTS)),
    task="|".join(envs.TASKS),
    # a method, a variant, or either with run overrides (dbc@lambda_dm=0.5)
    method=r"[a-z_0-9]+(@[a-z_][a-z_0-9]*=[^/@]+)*",
    seed=r"\d+",
    ratio=r"[0-9.]+",


# Tasks whose expert is a trained policy (envs.TASKS `expert`): shipped in envs/experts/ or
# retrained by rule train_expert.
RL_EXPERT_TASKS = [name for name, task in envs.TASKS.items() if task.expert == "rl"]


def retrained_expert_dir(task):
    return f"results/experts/{task}"


def expert_inputs(wildcards):
    """For collect_demos' input: the RL expert file its task's demonstrations come from."""
    task = wildcards.task
    if task not in RL_EXPERT_TASKS:
        return {}
    if config["experts"] == "retrained":
        return {"expert": f"{retrained_expert_dir(task)}/{task}.pt"}
    return {"expert": f"envs/experts/{task}.pt"}


def expert_env(wildcards):
    """Shell prefix for collect_demos: point the expert loader at the retrained file's folder."""
    if wildcards.task in RL_EXPERT_TASKS and config["experts"] == "retrained":
        return f"DBC_EXPERTS_DIR={retrained_expert_dir(wildcards.task)} "
    return ""


def dataset_dir(task, results=RESULTS):
    return f"{results}/datasets/dbc/{task}/expert-v0"


def dataset_summary(task, results=RESULTS):
    return f"{results}/data/{task}.json"


def run_dir(task, method, seed, results=RESULTS):
    return f"{results}/runs/{task}/{method}/seed{seed}"


def tasks_pattern(tasks):
    """A wildcard constraint matching exactly these task names (none: matches nothing)."""
    names = [re.escape(task) for task in tasks]
    return "|".join(names) if names else "(?!)"


def imported_source_files(wildcards):
    """The files of the task's imported dataset: a change to them reruns the data stage."""
    return [str(path) for path in IMPORTED[wildcards.task].files]


def data_budget_args(wildcards):
    spec = budget["data"][wildcards.task]
    return " ".join(f"--{key} {value}" for key, value in spec.items())


def eval_env_kwargs(wildcards):
    return shlex.quote(json.dumps(config["evaluation"]["env_kwargs"].get(wildcards.task, {})))


def demos_mode(wildcards):
    """`verify` always collects anew (and compares with the shipped card); the budget's runs follow `demos`."""
    return "regenerate" if wildcards.results == VERIFY_RESULTS else config["demos"]


def shipped_demo_inputs(wildcards):
    """With `demos: shipped`, the committed files of the task's shipped dataset where its card's recipe
    is this run's (envs.shipped); a change to them reruns the data stage."""
    task = wildcards.task
    if demos_mode(wildcards) != "shipped" or (task in RL_EXPERT_TASKS and config["experts"] == "retrained"):
        return {}
    wanted = checked(
        f"shipped dataset of '{task}'",
        lambda: envs.shipped.recipe(
            task,
            budget["data"][task],
            0,
            config["evaluation"]["env_kwargs"].get(task, {}),
            envs.demos.expert_file(task),
        ),
    )
    applies = checked(f"shipped dataset of '{task}'", lambda: envs.shipped.applies(task, wanted))
    return {"shipped": [os.path.relpath(path) for path in envs.shipped.shipped_files(task)]} if applies else {}


def method_inputs(wildcards):
    """The inputs the run's method declares in its registry entry (DBC: its task's diffusion model)."""
    run = registry.parse(wildcards.method)
    results = getattr(wildcards, "results", RESULTS)
    return {need: registry.stage(need).model_path(results, wildcards.task) for need in run.method.needs}


def input_args(wildcards, input):
    return " ".join(f"--input {need}={input[need]}" for need in method_inputs(wildcards))


# Each job gets its resolved hyperparameters as a param: the job records them in run.json, and a
# change to one task's config reruns only that task's jobs. Resolving here also reports a bad
# hyperparameter before anything runs.
@lru_cache(maxsize=None)
def _resolved(method, task):
    cfg = checked("config 'methods'", lambda: resolve("config", BUDGET, method, task))
    return shlex.quote(json.dumps(dataclasses.asdict(cfg), sort_keys=True))


def method_hyperparameters(wildcards):
    return _resolved(wildcards.method, wildcards.task)


@lru_cache(maxsize=None)
def _resolved_stage(name, task, results):
    """A pre-training stage's config for a results root: the budget's, or under a dm_budget variant's root,
    with the variant's fields."""
    variant = DM_BUDGET_ROOTS.get(results)
    where = f"{BUDGET_FILE}: dm_budget.{variant}"
    overrides = DM_BUDGET_VARIANTS[variant] if variant else None
    label = registry.stage(name).label
    cfg = checked(label, lambda: resolve_stage("config", BUDGET, name, task, overrides, where))
    return shlex.quote(json.dumps(dataclasses.asdict(cfg), sort_keys=True))


def stage_hyperparameters(name):
    """The params function of a stage's resolved config (its pre-training rule's, dm_quality's)."""
    return lambda wildcards: _resolved_stage(name, wildcards.task, getattr(wildcards, "results", RESULTS))


# Code fingerprints (dbc_bench.codehash): a job reruns when the code it runs changes: its script
# and every project module that script imports, plus the modules it reaches by name at run time
# (the method's module through the registry, the task's env through its entry point).
# The code closure includes dbc_bench.kernels, so changing the pinned kernels reruns every job too.
def task_module(task):
    return module_file(envs.TASKS[task].module)


def expert_module(task):
    return module_file(envs.TASKS[task].expert_module)


def code(script, *modules):
    # Native kernels give other bits than pinned ones: switching reruns the jobs.
    suffix = "" if KERNELS_MODE == "pinned" else f" kernels={KERNELS_MODE}"
    return fingerprint(f"workflow/scripts/{script}", *modules) + suffix


def method_code(script):
    def of_job(wildcards):
        method_module = registry.parse(wildcards.method).method.source_file
        task = getattr(wildcards, "task", GENERALIZATION["task"])
        return code(script, method_module, task_module(task))

    return of_job


def shipped_run_dirs():
    return [
        run_dir(t, m, s, COMMITTED_RESULTS) for t in config["tasks"] for m in SHIPPED_METHODS for s in config["seeds"]
    ]


def run_protocol(task):
    """The budget and evaluation protocol a committed run of `task` must have been made with."""
    return {
        "budget": BUDGET,
        "eval_episodes": budget["evaluation"]["episodes"],
        "eval_seed_first": seeds.eval_seeds(budget["evaluation"]["episodes"])[0],
        "eval_env_kwargs": config["evaluation"]["env_kwargs"].get(task, {}),
    }


def shipped_protocol():
    """task -> the protocol a shipped run must have been made with."""
    return {task: run_protocol(task) for task in config["tasks"]}


def shipped_latency_files():
    """The shipped reference methods' committed latency files, where present (for the cost table)."""
    files = [f"{COMMITTED_RESULTS}/latency/{t}/{m}.json" for t in config["tasks"] for m in SHIPPED_METHODS]
    return [path for path in files if Path(path).is_file()]


# Refuse incomparable shipped runs before anything trains (the dataset is checked by the report job).
if SHIPPED_METHODS:
    checked("config 'reference: shipped'", lambda: check_shipped_runs(shipped_run_dirs(), shipped_protocol()))


def all_final_evals():
    return [
        f"{run_dir(t, m, s)}/eval_final.csv"
        for t in config["tasks"]
        for m in config["methods"]
        for s in config["seeds"]
    ]


def all_videos():
    """With `evaluation.videos: N`, every run's video folder (rule record_videos); else none."""
    if not config["evaluation"]["videos"]:
        return []
    return [
        f"{RESULTS}/videos/{t}/{m}/seed{s}" for t in config["tasks"] for m in config["methods"] for s in config["seeds"]
    ]


# The labels and order of tasks and methods, for the reports (which never import the registries).
REGISTRY_ARG = shlex.quote(
    json.dumps({"methods": registry.labels(), "tasks": {name: task.label for name, task in envs.TASKS.items()}})
)


def caption_file(stem, text):
    """`snakemake --report` reads captions from .rst files: each output's declared caption
    (analysis.files), written once per text under .snakemake/captions/."""
    path = Path(".snakemake/captions", f"{stem}.rst").resolve()
    text = f"{text} Budget {BUDGET}.\n"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    return str(path)


GENERALIZATION = config["experiments"]["generalization"]
SWEEP = config["experiments"]["lambda_sweep"]


def experiment_methods(name):
    spec = config["experiments"][name]
    if name == "lambda_sweep":
        return [f"{spec['method']}@{spec['field']}={value:g}" for value in spec["values"]]
    return spec["methods"]


def experiment_run_dirs(name):
    spec = config["experiments"][name]
    return [run_dir(t, m, s) for t in spec["tasks"] for m in experiment_methods(name) for s in config["seeds"]]


def generalization_evals():
    ratios = GENERALIZATION["values"]
    return [
        f"{RESULTS}/generalization/{m}/seed{s}/r{r:g}.csv"
        for m in config["methods"]
        for s in config["seeds"]
        for r in ratios
    ]


def report_outputs():
    return [f"{PAPER}/{name}" for name in REPORT_FILES]


def report_rule_outputs():
    """The report rule's outputs; those declared `bundled` go into `snakemake --report` with their caption
    (a figure as itself, a table as its HTML file)."""
    bundled = {o.bundled_file: o for o in MAIN_OUTPUTS if o.bundled}

    def output(name):
        if name not in bundled:
            return f"{PAPER}/{name}"
        return report(
            f"{PAPER}/{name}",
            caption=caption_file(Path(name).stem, bundled[name].caption),
            category=bundled[name].category,
        )

    return [output(name) for name in REPORT_FILES]


def provenance():
    extra = "".join(
        [
            f" method_modules=[{','.join(config['method_modules'])}]" if config["method_modules"] else "",
            f" datasets=<imported for {','.join(config['datasets'])}>" if config["datasets"] else "",
            f" reference=shipped" if SHIPPED_METHODS else "",
        ]
    )
    merged = (
        f"; merged the shipped runs of {', '.join(SHIPPED_METHODS)} from {COMMITTED_RESULTS}/runs/"
        if SHIPPED_METHODS
        else ""
    )
    return (
        f"snakemake all --config budget={BUDGET} tasks=[{','.join(config['tasks'])}] "
        f"methods=[{','.join(config['methods'])}] seeds=[{','.join(map(str, config['seeds']))}]{extra}"
        f"{f' label={LABEL}' if LABEL else ''} (config/config.yaml, {BUDGET_FILE}){merged}"
    )


def paper_lengths():
    """method -> task -> the `paper` budget's training length ({epochs, batch_size} or {env_steps}),
    for the report's "Updates / paper's" column."""
    out = {}
    for method in config["methods"] + SHIPPED_METHODS:
        for task in config["tasks"]:
            _resolved(method, task)  # a bad override is named with this run's budget file, not paper.yaml
            cfg = checked("config 'methods'", lambda: resolve("config", "paper", method, task))
            fields = ("env_steps",) if hasattr(cfg, "env_steps") else ("epochs", "batch_size")
            out.setdefault(method, {})[task] = {name: getattr(cfg, name) for name in fields}
    return shlex.quote(json.dumps(out, sort_keys=True))


def bench_threads(wildcards):
    """Every core Snakemake was given: the benchmark times one thread, and claims the machine so that
    no other job disturbs the timings. A function, so that it is asked only when the job is
    scheduled: `snakemake --unlock` (no --cores) must parse this file. Executors without a core
    count (a cluster run without --cores) give the job one."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def bc_run_dirs(task):
    """The budget's BC runs of a task (the actions the model must rank below the expert's)."""
    return [run_dir(task, "bc", s) for s in config["seeds"]]


def dm_budget_variant_args():
    """--variant NAME 'quality files' 'DBC run folders' for each variant (all tasks and seeds)."""
    args = []
    for root, name in DM_BUDGET_ROOTS.items():
        quality = " ".join(f"{root}/dm_quality/{t}.json" for t in DM_BUDGET["tasks"])
        runs = " ".join(run_dir(t, "dbc", s, root) for t in DM_BUDGET["tasks"] for s in config["seeds"])
        args.append(f"--variant {name} '{quality}' '{runs}'")
    return " ".join(args)
