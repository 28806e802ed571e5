"""The method registry, config overlays and the declarative field validator; a method added
from outside the suite's own files runs through the DAG like a built-in one."""
import dataclasses
import json
import re
import shutil
from dataclasses import dataclass

import pytest
from conftest import ROOT, snakemake

import envs
from dbc_bench.errors import BenchError
from dbc_bench.fields import from_values, option
from methods import registry
from methods.config import resolve
from tests.test_pipeline import planned_runs


def test_builtin_methods_and_variants_are_registered_in_order():
    assert registry.names() == ["bc", "dbc", "ibc", "diffusion_policy", "gail", "bc_l2", "dbc_nonorm",
                                "dbc_action_dm",
                                # the generative-model ablation (methods/guidance.py), one module for three
                                "dbc_ebm", "dbc_ebm_nobc", "dbc_vae", "dbc_vae_nobc", "dbc_gan", "dbc_gan_nobc",
                                "dbc_nobc"]
    assert registry.labels()["diffusion_policy"] == "Diffusion Policy"
    assert registry.parse("dbc").method.needs == ("diffusion_model",)


def test_run_names_parse_overrides_and_unknown_names_list_the_choices():
    run = registry.parse("dbc_nonorm@lambda_dm=0.5@epochs=3")
    assert run.method.name == "dbc" and run.variant.name == "dbc_nonorm"
    assert run.overrides == {"lambda_dm": 0.5, "epochs": 3} and run.label == "dbc_nonorm@lambda_dm=0.5@epochs=3"
    with pytest.raises(BenchError, match="unknown method 'dbcc'; choose from bc, dbc, ibc"):
        registry.parse("dbcc")
    with pytest.raises(BenchError, match="expected name@field=value"):
        registry.parse("dbc@lambda_dm")


def test_dbc_extends_bc_and_variants_fix_one_field():
    bc = dataclasses.asdict(resolve("config", "paper", "bc", "maze"))
    dbc = dataclasses.asdict(resolve("config", "paper", "dbc", "maze"))
    assert {k: dbc[k] for k in bc} == bc  # DBC's policy config is BC's
    assert dbc["lambda_dm"] == 30
    assert not resolve("config", "paper", "dbc_nonorm", "maze").normalize_dm_loss
    assert resolve("config", "paper", "bc_l2", "maze").weight_decay == 1.0e-4
    assert resolve("config", "paper", "dbc@lambda_dm=0.5", "walker").lambda_dm == 0.5
    with pytest.raises(BenchError, match="unknown field.*lamda_dm; choose from adam_eps"):
        resolve("config", "paper", "dbc@lamda_dm=0.5", "maze")


def test_budget_keys_are_checked(tmp_path):
    for name in ("methods", "diffusion_model"):
        (tmp_path / name).mkdir()
    (tmp_path / "methods" / "bc").mkdir()
    (tmp_path / "methods" / "bc" / "maze.yaml").write_text("hidden: [8]\n")
    (tmp_path / "budgets").mkdir()
    budget = tmp_path / "budgets" / "b.yaml"
    budget.write_text("methods:\n  bcc: {all: {epochs: 1}}\n")
    with pytest.raises(BenchError, match=r"methods.bcc is not a method; choose from bc, dbc"):
        resolve(tmp_path, "b", "bc", "maze")
    budget.write_text("methods:\n  bc: {mazee: {epochs: 1}}\n")
    with pytest.raises(BenchError, match="unknown task.*mazee; choose from all, maze"):
        resolve(tmp_path, "b", "bc", "maze")


@dataclass
class Example:
    width: int = option(4, "a width", gt=0)
    rate: float = option(0.1, "a rate", ge=0, le=1)
    kind: str = option("a", "a kind", choices=("a", "b"))
    sizes: list[int] = option([1, 2], "sizes", item_gt=0)
    flag: bool = option(True, "a flag")

    def cross_checks(self):
        return [("width", "at least len(sizes)")] if self.width < len(self.sizes) else []


@pytest.mark.parametrize("values, message", [
    ({"width": 0}, "field 'width' must be a number > 0, got 0"),
    ({"width": 2.5}, "field 'width' must be an integer, got 2.5"),
    ({"width": True}, "field 'width' must be an integer"),
    ({"rate": 1.5}, "field 'rate' must be a number <= 1, got 1.5"),
    ({"rate": float("nan")}, "field 'rate' must be a finite number"),
    ({"kind": "c"}, "field 'kind' must be one of a, b, got 'c'"),
    ({"sizes": []}, "field 'sizes' must be a non-empty list"),
    ({"sizes": [1, 0]}, "field 'sizes' must be a list of values > 0"),
    ({"flag": "yes"}, "field 'flag' must be true or false"),
    ({"width": 1, "sizes": [1, 2]}, "field 'width' must be at least len\\(sizes\\), got 1"),
    ({"widht": 3}, "unknown field\\(s\\) widht; choose from flag, kind, rate, sizes, width"),
])
def test_declared_fields_are_validated(values, message):
    with pytest.raises(BenchError, match="^src: " + message):
        from_values(Example, values, "src")


def test_valid_values_keep_their_types():
    cfg = from_values(Example, {"rate": 1, "sizes": [3]}, "src")
    assert cfg.rate == 1 and isinstance(cfg.rate, int) and cfg.sizes == [3]


TOY_METHOD = '''
"""A toy method from outside the suite: BC with a linear policy."""
from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from dbc_bench.fields import option
from methods.registry import MethodSpec
from methods.train import TrainConfig


@dataclass
class Config(TrainConfig):
    scale: float = option(1.0, "output scale", gt=0)


class Linear(nn.Module):
    def __init__(self, obs_dim, act_dim, scale):
        super().__init__()
        self.net, self.scale = nn.Linear(obs_dim, act_dim), scale

    def act(self, obs):
        return self.scale * self.net(obs)

    def loss(self, obs, act):
        loss = F.mse_loss(self.act(obs), act)
        return loss, {"bc_loss": loss.detach()}


def build(cfg, obs_dim, act_dim, context=None):
    return Linear(obs_dim, act_dim, cfg.scale)


METHOD = MethodSpec(name="toy", label="Toy", config=Config, build=build)
'''


@pytest.mark.slow
def test_a_new_method_is_one_module_and_its_configs(workflow_copy):
    work, env = workflow_copy
    (work / "methods" / "toy.py").write_text(TOY_METHOD)
    (work / "config" / "methods" / "toy").mkdir()
    for task in envs.TASKS:
        (work / "config" / "methods" / "toy" / f"{task}.yaml").write_text("epochs: 2\nscale: 0.5\n")
    proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke", "methods=[bc,dbc,toy]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    planned = set(re.findall(r"runs/(\w+)/(\w+)/seed(\d)/eval_final.csv", proc.stdout))
    assert {(t, "toy", s) for t in ("maze", "walker") for s in "123"} <= planned
    # ...and it really trains and is evaluated like a built-in method.
    target = "results/smoke/runs/maze/toy/seed1/eval_final.csv"
    proc = snakemake(work, env, "--cores", "1", target, "--config", "budget=smoke")
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads((work / "results/smoke/runs/maze/toy/seed1/run.json").read_text())
    assert info["method"] == "toy" and info["config"]["scale"] == 0.5 and info["config"]["epochs"] == 2


@pytest.mark.slow
def test_overridden_method_plans_and_bad_names_are_one_line(workflow_copy):
    work, env = workflow_copy
    proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke", "methods=[dbc@lambda_dm=0.5]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "runs/maze/dbc@lambda_dm=0.5/seed1" in proc.stdout
    proc = snakemake(work, env, "-n", "all", "--config", "methods=[bc,dbcc]")
    assert proc.returncode == 1
    assert "error: config 'methods': unknown method 'dbcc'; choose from bc, dbc, ibc" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke", "methods=[dbc@lamda_dm=1]")
    assert proc.returncode == 1 and "unknown field(s) lamda_dm; choose from" in proc.stderr


@pytest.mark.parametrize("evaluation, message", [
    ({"env_kwargs": {"fetch_pik": {"noise_ratio": 1.25}}},
     "config 'evaluation.env_kwargs': unknown task 'fetch_pik'; choose from maze"),
    ({"env_kwargs": {"fetch_pick": {"noise_ratoi": 1.25}}},
     "config 'evaluation.env_kwargs': task 'fetch_pick' has no env argument noise_ratoi; choose from noise_ratio"),
])
def test_evaluation_env_kwargs_are_checked_against_the_task(at_root, evaluation, message):
    from dbc_bench.errors import BenchError
    from pipeline import plan

    with pytest.raises(BenchError) as caught:
        plan.build({"budget": "smoke", "evaluation": evaluation})
    assert str(caught.value).startswith(message)


@pytest.mark.slow
def test_an_external_method_against_the_shipped_runs_plans_only_itself(workflow_copy):
    """The README's external-method command (tests/test_docs.py dry-runs every documented command) plans the
    new method's runs only, by its file or by its module name."""
    work, env = workflow_copy
    # "Your method, your data": the example method against the shipped runs, and the example overlay.
    shutil.copytree(ROOT / "examples", work / "examples")
    shutil.copytree(ROOT / "results" / "default" / "runs", work / "results" / "default" / "runs",
                    ignore=shutil.ignore_patterns("*.pt"))  # the shipped runs, as a fresh clone has them
    # As the README writes them: the method by its file, no PYTHONPATH; the overlay's shipped data file.
    proc = snakemake(work, env, "-n", "--cores", "2", "all", "--config",
                     "method_modules=[examples/huber_bc/huber_bc.py]", "methods=[huber_bc]", "reference=shipped")
    assert {method for _, method, _ in planned_runs(proc)} == {"huber_bc"}, proc.stderr[-2000:]
    # ... or by its module name, its folder on PYTHONPATH.
    yours = {**env, "PYTHONPATH": f"{env['PYTHONPATH']}:{work / 'examples' / 'huber_bc'}"}
    proc = snakemake(work, yours, "-n", "--cores", "2", "all", "--config", "method_modules=[huber_bc]",
                     "methods=[huber_bc]", "reference=shipped")
    assert {method for _, method, _ in planned_runs(proc)} == {"huber_bc"}


@pytest.mark.parametrize("old, new, message", [
    ("  dbc:\n", "  dbcc:\n", "config/budgets/smoke.yaml: methods.dbcc is not a method; choose from bc, dbc"),
    ("    maze: {epochs: 300}", "    mazee: {epochs: 300}",
     "config/budgets/smoke.yaml: methods.bc: unknown task(s) mazee; choose from all, maze"),
    ("  walker: {episodes: 1}", "  walkerr: {episodes: 1}",
     "config/budgets/smoke.yaml: data: unknown task 'walkerr'; choose from maze"),
    ("diffusion_model:\n  all:", "diffusion_model:\n  mazee:",
     "config/budgets/smoke.yaml: diffusion_model: unknown task(s) mazee; choose from all, maze"),
])
def test_typos_in_a_budget_file_are_named(workflow_copy, old, new, message):
    work, env = workflow_copy
    budget = work / "config" / "budgets" / "smoke.yaml"
    text = budget.read_text()
    assert old in text
    budget.write_text(text.replace(old, new, 1))
    proc = snakemake(work, env, "-n", "all", "--config", "budget=smoke")
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr[-1500:]
