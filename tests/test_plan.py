"""The plan layer (pipeline.plan, pipeline.job) without Snakemake: the default config's plan, its checks,
its defaults, and what each job is given on its command line."""
import argparse
import json
import subprocess
import sys

import pytest
import yaml
from conftest import CONFIG, ROOT, snakemake

import envs
from dbc_bench.errors import BenchError
from pipeline import job, plan


def job_stats(output: str) -> dict[str, int]:
    """rule -> count from a dry run's "Job stats" table."""
    lines = output[output.index("Job stats:"):].splitlines()[3:]
    stats = {}
    for line in lines:
        words = line.split()
        if len(words) != 2 or words[0] == "total":
            break
        stats[words[0]] = int(words[1])
    return stats


def test_the_default_plan_has_the_jobs_of_snakemakes_dry_run(at_root, workflow_copy):
    built = plan.build()
    runs = len(CONFIG["tasks"]) * len(CONFIG["methods"]) * len(CONFIG["seeds"])
    assert built.all_jobs["train"] == runs and len(built.main_runs()) == runs
    work, env = workflow_copy  # no results yet: `all` runs every job
    proc = snakemake(work, env, "-n", "all", "--quiet", "rules")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert job_stats(proc.stdout + proc.stderr) == built.all_jobs


def test_the_plan_fills_the_schemas_defaults_as_snakemake_does(at_root):
    from snakemake.utils import validate

    mine = plan.build({"budget": "smoke"}).config
    theirs = plan.merged(yaml.safe_load((ROOT / "config/config.yaml").read_text()), {"budget": "smoke"})
    validate(theirs, str(ROOT / "workflow/schemas/config.schema.yaml"), set_default=True)
    assert {k: v for k, v in mine.items() if k not in ("methods", "reference_methods")} == \
        {k: v for k, v in theirs.items() if k not in ("methods", "reference_methods")}


def test_folders_follow_the_config(at_root):
    own = plan.build({"budget": "smoke"})
    assert (own.results, own.paper, own.label) == ("results/smoke", "paper/smoke", "")
    labelled = plan.build({"budget": "smoke", "label": "mine"})
    assert (labelled.results, labelled.paper) == ("results/smoke-mine", "paper/smoke-mine")
    assert labelled.notice.startswith("DBC-Bench: this run's results go to results/smoke-mine/")
    variants = plan.build({"budget": "smoke"}).dm_budget_roots
    assert all(root.startswith("results/smoke/dm_budget/") for root in variants)


@pytest.mark.parametrize("overrides, message", [
    ({"budgte": "smoke"}, "config: unknown key 'budgte'; choose from budget, "),
    ({"tasks": ["mazee"]}, "config 'tasks': unknown task 'mazee'; choose from maze, "),
    ({"methods": ["dbcc"]}, "config 'methods': unknown method 'dbcc'; choose from bc, dbc, "),
    ({"seeds": "[0]"}, "config 'seeds[0]': 0 is less than the minimum of 1"),
    ({"rerender": "committed", "label": "x"}, "config 'rerender': re-renders the suite's own committed runs"),
])
def test_a_bad_config_is_one_line(at_root, overrides, message):
    if isinstance(overrides.get("seeds"), str):
        overrides = {**overrides, "seeds": plan.read_yaml_text(overrides["seeds"])}
    with pytest.raises(BenchError) as caught:
        plan.build(overrides)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_each_run_gets_its_own_resolved_config(at_root):
    built = plan.build({"budget": "smoke"})
    maze, walker = built.hyperparameters("dbc", "maze"), built.hyperparameters("dbc", "walker")
    assert maze != walker and maze["lambda_dm"] >= 0
    assert built.hyperparameters("dbc@lambda_dm=0", "maze")["lambda_dm"] == 0
    assert built.method_inputs("dbc", "maze") == {"diffusion_model": "results/smoke/diffusion_model/maze/model.pt"}
    assert built.experiment_methods("lambda_sweep")[0].startswith("dbc@lambda_dm=")


def test_a_config_defined_task_reaches_its_jobs_as_an_argument(at_root):
    definition = {"env_id": "InvertedPendulum-v5", "metric": "return", "max_episode_steps": 100, "label": "P"}
    built = plan.build({"budget": "smoke", "task_definitions": {"pendulum": definition}})
    assert built.task_definitions("maze") == {} and built.label == "custom"
    words = job.arguments(built.task_definitions("pendulum"), [])
    parser = argparse.ArgumentParser()
    job.add_arguments(parser)
    import shlex

    args = parser.parse_args(shlex.split(words))
    assert args.task_definitions == {"pendulum": definition} and args.method_modules == ""
    del envs.TASKS["pendulum"]
    job.apply(args)  # a job registers it from its arguments alone
    assert envs.get_task("pendulum").max_episode_steps == 100
    assert job.arguments({}, []) == ""


def test_the_recorded_plan_ignores_the_experiment_targets(at_root):
    """results/<budget>/plan.json is the record of `all`: a config that changes only an experiment leaves it
    as it was, so `all` has nothing to do after an experiment ran (tests/test_pipeline.py)."""
    plain = plan.build({"budget": "smoke"}).as_json()
    swept = plan.build({"budget": "smoke", "experiments": {"lambda_sweep": {"tasks": ["maze"], "values": [0, 2]}}})
    assert swept.experiment_runs("lambda_sweep") != plan.build({"budget": "smoke"}).experiment_runs("lambda_sweep")
    assert swept.as_json() == plain


def test_an_expert_recipe_is_switched_by_config(at_root):
    built = plan.build({"budget": "smoke", "experts": "retrained",
                        "expert_recipes": {"hand_rotate": "hand_rotate_ddpg_her"}})
    assert built.expert_recipe("hand_rotate") == "config/experts/hand_rotate_ddpg_her.yaml"
    assert built.expert_recipe("walker") == "config/experts/walker.yaml"
    assert built.expert_file("hand_rotate") == "results/experts/hand_rotate/hand_rotate.pt"
    assert built.experts_dir_args("hand_rotate") == "--experts-dir results/experts/hand_rotate"
    for recipes, message in (({"maze": "x"}, "config 'expert_recipes.maze': not a task with an RL expert"),
                             ({"walker": "nosuch"}, "config 'expert_recipes.walker': no file config/experts/")):
        with pytest.raises(BenchError, match=message):
            plan.build({"budget": "smoke", "expert_recipes": recipes})


def test_the_plan_command_prints_the_plan(at_root):
    proc = subprocess.run([sys.executable, "-m", "pipeline.plan", "budget=smoke", "tasks=[maze]", "seeds=[1,2]"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    printed = json.loads(proc.stdout)
    assert printed["results"] == "results/smoke" and len(printed["runs"]) == len(CONFIG["methods"]) * 2
    assert printed["jobs_of_all"]["train"] == len(printed["runs"])
    proc = subprocess.run([sys.executable, "-m", "pipeline.plan", "budget=nosuch"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.startswith("error: config 'budget': 'nosuch' is not allowed")
