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
from dbc_bench import checkout, tracking
from dbc_bench.codehash import module_file
from dbc_bench.errors import BenchError
from dbc_bench.io import write_text_atomic
from methods import registry
from pipeline import plan
from pipeline.plan import code, task_module, tasks_pattern


def checked(what, value):
    """`value()`; a BenchError becomes one line on stderr and exit status 1 (no traceback)."""
    try:
        return value()
    except BenchError as exc:
        print(f"error: {what}{': ' if what else ''}{exc}", file=sys.stderr)
        raise SystemExit(1) from None


# The fingerprints cover the files of the checkout Python imports the packages from: it must be this one.
checked("", lambda: checkout.require_workflow(workflow.basedir))
PLAN = checked("", lambda: plan.build(config))
config.update(PLAN.config)
if PLAN.notice:
    print(PLAN.notice, file=sys.stderr)
budget = PLAN.budget
BUDGET, BUDGET_FILE = PLAN.budget_name, PLAN.budget_file
RESULTS, COMMITTED_RESULTS, VERIFY_RESULTS = PLAN.results, PLAN.committed_results, PLAN.verify_results
PAPER, RERENDER = PLAN.paper, PLAN.rerender
LOGS, BENCH = f"{RESULTS}/logs", f"{RESULTS}/benchmarks"
# Two settings stay in the jobs' environment. The pinned CPU kernels (dbc_bench.kernels, set when this
# process imported dbc_bench) must act before a job's numpy loads. Tracking stays in the jobs' environment, off their command and params: it never changes what a run
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


def quoted(value, sort_keys=False):
    """`value` as one shell word of JSON."""
    return shlex.quote(json.dumps(value, sort_keys=sort_keys))


def results_of(wildcards):
    return getattr(wildcards, "results", RESULTS)


def task_of(wildcards):
    """The job's task (the generalisation rule's is the experiment's)."""
    return getattr(wildcards, "task", PLAN.generalization["task"])


def job_args(wildcards):
    """What the job must register first (a task defined in config, method modules): pipeline.job."""
    return PLAN.job_args(task_of(wildcards))


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


def method_code(script):
    """The job's code fingerprint (pipeline.plan.code): its script, method and task modules."""
    return lambda wc: plan.method_code(script, wc.method, task_of(wc))


def final_evals(runs, results=None):
    return [f"{PLAN.run_dir(t, m, s, results)}/eval_final.csv" for t, m, s in runs]


REGISTRY_ARG = quoted(PLAN.registry_labels())


def caption_file(stem, text):
    return plan.caption_file(stem, f"{text} Budget {BUDGET}.\n")


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


def stage_out_dir(stage):
    """A pre-training rule's output folder, as a params function."""
    return lambda wildcards: stage.out_dir(wildcards.results, wildcards.task)


# Rule ship_model's input: the pre-training it ships, which must have been trained here.
def trained_model_dir(wildcards):
    def model_dir():
        if config["diffusion_models"] != "trained":
            raise BenchError("target ship_models ships models pre-trained here: add --config diffusion_models=trained")
        return registry.stage(wildcards.stage).out_dir(RESULTS, wildcards.task)

    return checked("", model_dir)
