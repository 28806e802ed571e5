# Shared helpers: config validation, the budget, and the paths every stage agrees on.
import dataclasses
import json
import os
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

from methods import base_method
from methods.config import resolve, resolve_diffusion_model

sys.path.insert(0, str(Path(workflow.current_basedir).parent / "scripts"))
from report_files import REPORT_FILES

validate(config, "../schemas/config.schema.yaml", set_default=True)

BUDGET = config["budget"]
BUDGET_FILE = f"config/budgets/{BUDGET}.yaml"
with open(BUDGET_FILE) as _f:
    budget = yaml.safe_load(_f)
validate(budget, "../schemas/budget.schema.yaml", set_default=True)

# Rules call `python`: the interpreter running Snakemake (the project's .venv, where setup.sh
# installed this repository) comes first on PATH, also for cluster jobs, unless a conda
# environment (SOFTWARE, which installs the repository too) is activated on top of it.
envvars:
    "PATH",


_search_path = os.environ["PATH"]
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), _search_path])
SOFTWARE = "../envs/dbc-bench.yaml"
RESULTS = f"results/{BUDGET}"
PAPER = f"paper/{BUDGET}"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"

for _task in config["tasks"]:
    if _task not in budget["data"]:
        raise ValueError(f"{BUDGET_FILE}: field 'data.{_task}' is missing (task '{_task}' is in config 'tasks')")

wildcard_constraints:
    task="|".join(config["tasks"]),
    # a method, a variant, or either with run overrides (dbc@lambda_dm=0.5)
    method=r"[a-z_0-9]+(@[a-z_]+=[^/@]+)*",
    seed=r"\d+",
    ratio=r"[0-9.]+",


# RL experts (walker, hand_rotate): shipped in envs/experts/ or retrained by rule train_expert.
RL_EXPERT_TASKS = ["walker", "hand_rotate"]


def retrained_expert_dir(task):
    return f"results/experts/{task}"


def expert_source():
    """'shipped' (envs/experts/, the default) or 'retrained' (this file's train_expert outputs);
    the config schema admits only these two."""
    return config["experts"]


def expert_inputs(wildcards):
    """For collect_demos' input: the RL expert file its task's demonstrations come from."""
    task = wildcards.task
    if task not in RL_EXPERT_TASKS:
        return {}
    if expert_source() == "retrained":
        return {"expert": f"{retrained_expert_dir(task)}/{task}.pt"}
    return {"expert": f"envs/experts/{task}.pt"}


def expert_env(wildcards):
    """Shell prefix for collect_demos: point the expert loader at the retrained file's folder."""
    if wildcards.task in RL_EXPERT_TASKS and expert_source() == "retrained":
        return f"DBC_EXPERTS_DIR={retrained_expert_dir(wildcards.task)} "
    return ""


def dataset_dir(task):
    return f"{RESULTS}/datasets/dbc/{task}/expert-v0"


def dataset_summary(task):
    return f"{RESULTS}/data/{task}.json"


def run_dir(task, method, seed):
    return f"{RESULTS}/runs/{task}/{method}/seed{seed}"


def data_budget_args(wildcards):
    spec = budget["data"][wildcards.task]
    return " ".join(f"--{key} {value}" for key, value in spec.items())


def eval_env_kwargs(wildcards):
    return json.dumps(config["evaluation"]["env_kwargs"].get(wildcards.task, {}))


def diffusion_model(task):
    return f"{RESULTS}/diffusion_model/{task}/model.pt"


def method_inputs(wildcards):
    """Extra inputs a method needs: DBC trains against its task's pre-trained diffusion model."""
    return {"diffusion_model": diffusion_model(wildcards.task)} if base_method(wildcards.method) == "dbc" else {}


def method_context(wildcards):
    return json.dumps(method_inputs(wildcards))


# Each job depends on its own resolved settings (a param), not on the whole budget file, so
# editing one task's budget reruns only that task's jobs. Resolving here also reports a bad
# hyperparameter before anything runs.
def method_hyperparameters(wildcards):
    return dataclasses.asdict(resolve("config", BUDGET, wildcards.method, wildcards.task))


def diffusion_model_hyperparameters(wildcards):
    return dataclasses.asdict(resolve_diffusion_model("config", BUDGET, wildcards.task))


def all_final_evals():
    return [f"{run_dir(t, m, s)}/eval_final.csv"
            for t in config["tasks"] for m in config["methods"] for s in config["seeds"]]


# Shown by `snakemake --report report.html`, each with its caption in workflow/report/<name>.rst.
REPORT_FIGURES = ("aggregate_intervals.png", "performance_profiles.png", "improvement.png", "per_task_scores.png",
                  "learning_curves.png")


GENERALIZATION_TASK = "fetch_pick"
EXPERIMENTS = ("ablation", "regularization", "lambda_sweep")


def experiment_methods(name):
    spec = config["experiments"][name]
    if name == "lambda_sweep":
        return [f"dbc@lambda_dm={value:g}" for value in spec["values"]]
    return spec["methods"]


def experiment_run_dirs(name):
    spec = config["experiments"][name]
    return [run_dir(t, m, s) for t in spec["tasks"] for m in experiment_methods(name) for s in config["seeds"]]


def generalization_evals():
    ratios = config["experiments"]["generalization"]["noise_ratios"]
    return [f"{RESULTS}/generalization/{m}/seed{s}/r{r:g}.csv"
            for m in config["methods"] for s in config["seeds"] for r in ratios]


def report_outputs():
    return [f"{PAPER}/{name}" for name in REPORT_FILES]


def report_rule_outputs():
    return [report(f"{PAPER}/{name}", caption=f"../report/{Path(name).stem}.rst", category="Figures")
            if name in REPORT_FIGURES else f"{PAPER}/{name}" for name in REPORT_FILES]


def provenance():
    return (f"snakemake all --config budget={BUDGET} tasks=[{','.join(config['tasks'])}] "
            f"methods=[{','.join(config['methods'])}] seeds=[{','.join(map(str, config['seeds']))}]"
            f" (config/config.yaml, {BUDGET_FILE})")
