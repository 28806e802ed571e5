"""Every command the README and docs/ show in a ```bash block is run by a test: the Snakemake commands here,
as dry runs in a scratch copy (the real runs take hours), each other one by the test named for it below.
A new command in the docs fails this test until it is covered."""
import re
import shlex
import shutil

import pytest
from conftest import ROOT, snakemake

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SETUP = "./setup.sh"  # the install: .ci/run runs it on a fresh machine; `./setup.sh && X` is checked as X
# Commands another test runs: the command's start -> (test file, test function).
RUN_ELSEWHERE = {
    ".venv/bin/python -m pytest": (".ci/run", None),  # CI runs the README's test command
    ".venv/bin/snakemake --cores 2 --forceall --config rerender=committed":
        ("tests/test_rerender.py", "test_the_committed_runs_rerender_to_the_committed_tables"),
    ".venv/bin/snakemake --config rerender=committed --report report.zip":
        ("tests/test_rerender.py", "test_the_committed_runs_rerender_to_the_committed_tables"),
    ".venv/bin/snakemake --profile profiles/slurm":
        ("tests/test_slurm.py", "test_the_smoke_dag_on_slurm_matches_the_local_run"),
    "sudo tests/slurm/start_cluster.sh": ("tests/test_slurm.py", "slurm_run"),
    "sudo tests/slurm/stop_cluster.sh": ("tests/test_slurm.py", "slurm_run"),
    ".venv/bin/python -m dbc_bench.tracking":
        ("tests/test_tracking.py", "test_readme_commands_mirror_the_shipped_runs"),
    ".venv/bin/tensorboard": ("tests/test_tracking.py", "test_readme_commands_mirror_the_shipped_runs"),
    ".venv/bin/python -m pipeline.plan": ("tests/test_plan.py", "test_the_plan_command_prints_the_plan"),
    "./setup.sh --cuda": ("tests/test_gpu.py", "test_setup_cuda_installs_the_cuda_build"),
    "tools/gpu_check.sh": ("tests/test_gpu.py", "test_the_gpu_check_says_what_is_missing_without_a_gpu"),
}
# Quick commands run here as written, in the checkout: the command's start -> what their output holds.
RUN_HERE = {
    ".venv/bin/python workflow/scripts/dag_time.py results/default/benchmarks": "| train: dbc |",
    ".venv/bin/python workflow/scripts/paper_cost.py results/benchmark/benchmark.json": "| train: diffusion_policy |",
}
# Snakemake commands dry-run here: the command's start -> a run or file its plan must hold.
DRY_RUN = {
    ".venv/bin/snakemake --cores 8 all --config budget=paper": "runs/walker/gail/seed5",
    ".venv/bin/snakemake --cores 8 all": "runs/ant_reach/dbc/seed3",
    ".venv/bin/snakemake --cores 2 all --config method_modules=": "runs/maze/huber_bc/seed1",
    ".venv/bin/snakemake --cores 2 all --configfile examples/my_data.yaml": "import_demos.py --task maze",
    ".venv/bin/snakemake --cores 2 verify": "results/verify/default/verify.md",
    ".venv/bin/snakemake --cores 2 datasets --config demos=ship": "--demos ship",
    ".venv/bin/snakemake --cores 2 ship_models --config diffusion_models=trained":
        "ship_model.py --stage diffusion_model --task ant_reach",
}


def documented_commands() -> list[tuple[str, str]]:
    """(file, command) of every line in a ```bash block, comments dropped."""
    found = []
    for path in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                command = line.split("  #")[0].strip()
                if command and not command.startswith("#") and command != SETUP:
                    found.append((str(path.relative_to(ROOT)), command.removeprefix(f"{SETUP} && ")))
    return found


def covered_by(command: str):
    """(how, what) for the longest documented start that fits the command, or (None, None)."""
    starts = [(start, how, what) for how, table in (("dry run", DRY_RUN), ("here", RUN_HERE),
                                                     ("elsewhere", RUN_ELSEWHERE)) for start, what in table.items()]
    fitting = [entry for entry in starts if command.startswith(entry[0])]
    if not fitting:
        return None, None
    _, how, what = max(fitting, key=lambda entry: len(entry[0]))
    return how, what


def test_every_documented_command_is_covered():
    commands = documented_commands()
    assert len(commands) >= 15
    for path, command in commands:
        how, where = covered_by(command)
        assert how, f"{path}: `{command}` is run by no test; add it to tests/test_docs.py"
        if how == "elsewhere" and where[1]:
            text = (ROOT / where[0]).read_text()
            assert re.search(rf"^def {where[1]}\(", text, re.M), f"{path}: `{command}`: {where} does not exist"
    # The README's test command is the one .ci/run runs, after the install.
    ci = (ROOT / ".ci/run").read_text()
    assert SETUP in ci and ".venv/bin/python -m pytest" in ci


def test_the_quick_documented_commands_run():
    import subprocess

    for path, command in documented_commands():
        how, wanted = covered_by(command)
        if how == "here":
            proc = subprocess.run(shlex.split(command), cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0 and wanted in proc.stdout, f"{path}: {command}\n{proc.stderr[-2000:]}"


@pytest.fixture
def docs_copy(workflow_copy):
    """A scratch copy with what a fresh clone holds for the documented commands: the examples and the
    committed runs' result files (their weights are not needed by a dry run)."""
    work, env = workflow_copy
    shutil.copytree(ROOT / "examples", work / "examples")
    shutil.copytree(ROOT / "results" / "default" / "runs", work / "results" / "default" / "runs",
                    ignore=shutil.ignore_patterns("*.pt"))
    return work, env


@pytest.mark.slow
def test_the_documented_snakemake_commands_plan(docs_copy):
    work, env = docs_copy
    planned = 0
    for path, command in documented_commands():
        how, wanted = covered_by(command)
        if how != "dry run":
            continue
        args = shlex.split(command)[1:]  # as written, after .venv/bin/snakemake
        proc = snakemake(work, env, "-n", *args)
        assert proc.returncode == 0, f"{path}: {command}\n{proc.stderr[-2000:]}"
        assert wanted in proc.stdout, f"{path}: {command}: no '{wanted}' in its plan"
        planned += 1
    assert planned >= len(DRY_RUN)
    # `snakemake --unlock` (the troubleshooting page's) needs no other argument.
    proc = snakemake(work, env, "--unlock")
    assert proc.returncode == 0, proc.stderr[-2000:]
