# Shared helpers: the plan (pipeline.plan: the config checked and resolved) and the rule helpers that
# turn it into inputs, params and shell words.
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

import envs
from analysis.files import MAIN_OUTPUTS, REPORT_FILES
from dbc_bench import checkout, kernels, tracking
from dbc_bench.codehash import fingerprint, module_file
from dbc_bench.errors import BenchError
from dbc_bench.io import write_text_atomic
from methods import registry
from pipeline import job, plan

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
        print(f"error: {what}{': ' if what else ''}{exc}", file=sys.stderr)
        raise SystemExit(1) from None


PLAN = checked("", lambda: plan.build(config))
config.update(PLAN.config)
if PLAN.notice:
    print(PLAN.notice, file=sys.stderr)
budget = PLAN.budget
BUDGET, BUDGET_FILE = PLAN.budget_name, PLAN.budget_file
RESULTS, COMMITTED_RESULTS, VERIFY_RESULTS, PAPER = (
    PLAN.results,
    PLAN.committed_results,
    PLAN.verify_results,
    PLAN.paper,
)
RERENDER = PLAN.rerender
LOGS, BENCH = f"{RESULTS}/logs", f"{RESULTS}/benchmarks"
# Tracking stays in the jobs' environment, off their command and params: it never changes what a run
# computes, so switching it must rerun nothing (dbc_bench.tracking).
os.environ[tracking.VARIABLE] = config["tracking"]


# Rules call `python`: the interpreter running Snakemake (the project's .venv, where setup.sh
# installed this repository) comes first on PATH, also for cluster jobs, unless a conda
# environment (SOFTWARE, which installs the repository too) is activated on top of it.
envvars:
    "PATH",


_search_path = os.environ["PATH"]
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), _search_path])
SOFTWARE = "../envs/dbc-bench.yaml"


wildcard_constraints:
    # the results folder of the data, pre-training and training rules: the budget's, verify's or a dm_budget variant's
    results="|".join(re.escape(root) for root in PLAN.results_roots),
    task="|".join(envs.TASKS),
    # a method, a variant, or either with run overrides (dbc@lambda_dm=0.5)
    method=r"[a-z_0-9]+(@[a-z_][a-z_0-9]*=[^/@]+)*",
    seed=r"\d+",
    ratio=r"[0-9.]+",


def tasks_pattern(tasks):
    """A wildcard constraint matching exactly these task names (none: matches nothing)."""
    names = [re.escape(task) for task in tasks]
    return "|".join(names) if names else "(?!)"


def quoted(value, sort_keys=False):
    """`value` as one shell word of JSON."""
    return shlex.quote(json.dumps(value, sort_keys=sort_keys))


def results_of(wildcards):
    return getattr(wildcards, "results", RESULTS)


def job_args(wildcards):
    """What the job must register first (a task defined in config, method modules): pipeline.job."""
    task = getattr(wildcards, "task", PLAN.generalization["task"])
    return job.arguments(PLAN.task_definitions(task), registry.used_modules())


def env_kwargs(wildcards):
    return quoted(PLAN.env_kwargs(wildcards.task))


def method_inputs(wildcards):
    """The inputs the run's method declares in its registry entry (DBC: its task's diffusion model)."""
    return PLAN.method_inputs(wildcards.method, wildcards.task, results_of(wildcards))


def input_args(wildcards, input):
    return " ".join(f"--input {need}={input[need]}" for need in method_inputs(wildcards))


# Each job gets its resolved hyperparameters as a param: the job records them in run.json, and a
# change to one task's config reruns only that task's jobs.
def method_hyperparameters(wildcards):
    return quoted(checked("", lambda: PLAN.hyperparameters(wildcards.method, wildcards.task)), sort_keys=True)


def stage_hyperparameters(name):
    """The params function of a stage's resolved config (its pre-training rule's, dm_quality's)."""
    return lambda wc: quoted(
        checked("", lambda: PLAN.stage_hyperparameters(name, wc.task, results_of(wc))), sort_keys=True
    )


# Code fingerprints (dbc_bench.codehash): a job reruns when the code it runs changes: its script
# and every project module that script imports, plus the modules it reaches by name at run time
# (the method's module through the registry, the task's env through its entry point).
# The code closure includes dbc_bench.kernels, so changing the pinned kernels reruns every job too.
def task_module(task):
    return module_file(envs.TASKS[task].module)


def code(script, *modules):
    # Native kernels give other bits than pinned ones: switching reruns the jobs.
    suffix = "" if KERNELS_MODE == "pinned" else f" kernels={KERNELS_MODE}"
    return fingerprint(f"workflow/scripts/{script}", *modules) + suffix


def method_code(script):
    def of_job(wildcards):
        method_module = registry.parse(wildcards.method).method.source_file
        task = getattr(wildcards, "task", PLAN.generalization["task"])
        return code(script, method_module, task_module(task))

    return of_job


def final_evals(runs, results=None):
    return [f"{PLAN.run_dir(t, m, s, results)}/eval_final.csv" for t, m, s in runs]


REGISTRY_ARG = quoted(PLAN.registry_labels())


def caption_file(stem, text):
    """`snakemake --report` reads captions from .rst files: each output's declared caption
    (analysis.files), written once per text under .snakemake/captions/."""
    path = Path(".snakemake/captions", f"{stem}.rst").resolve()
    text = f"{text} Budget {BUDGET}.\n"
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    return str(path)


def report_outputs():
    return [f"{PAPER}/{name}" for name in REPORT_FILES]


def report_rule_outputs():
    """The report rule's outputs; those declared `bundled` go into `snakemake --report` with their caption
    (a figure as itself, a table as its HTML file)."""
    bundled = {o.bundled_file: o for o in MAIN_OUTPUTS if o.bundled}

    def output(name):
        if name not in bundled:
            return f"{PAPER}/{name}"
        spec = bundled[name]
        return report(f"{PAPER}/{name}", caption=caption_file(Path(name).stem, spec.caption), category=spec.category)

    return [output(name) for name in REPORT_FILES]


def bench_threads(wildcards):
    """Every core Snakemake was given: the benchmark times one thread, and claims the machine so that
    no other job disturbs the timings. A function, so that it is asked only when the job is
    scheduled: `snakemake --unlock` (no --cores) must parse this file. Executors without a core
    count (a cluster run without --cores) give the job one."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1
