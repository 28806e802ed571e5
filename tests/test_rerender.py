"""`rerender: committed`: paper/default/ rebuilt from the committed runs alone on a fresh copy of the
repository (its tracked files: no models, datasets or Snakemake records), with no training, data or
evaluation job, gives byte-identical tables and CSVs. Figures are compared by existence only: their
PNG and PDF bytes hold the renderer's version and fonts, not numbers the report computes."""
from __future__ import annotations

import subprocess
import time
import zipfile

import pytest
from conftest import ROOT, snakemake, workflow_env

pytestmark = pytest.mark.slow
COMPARED = (".md", ".tex", ".csv", ".html")


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    work = tmp_path_factory.mktemp("clone")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_bytes(source.read_bytes())
    return work, workflow_env(work)


def test_the_committed_runs_rerender_to_the_committed_tables(fresh_clone):
    """The README's command plans report jobs only; the main report and the generalisation table (the two
    report scripts every experiment's pages come from) are rendered and compared byte for byte. The other
    experiments' pages (make_report.py again, on their own runs) are left out for CI's time."""
    work, env = fresh_clone
    planned = snakemake(work, env, "-n", "--forceall", "--config", "rerender=committed")
    assert planned.returncode == 0, planned.stderr[-3000:]
    rules = {line.split()[1].rstrip(":") for line in planned.stdout.splitlines() if line.startswith("rule ")}
    # report jobs only: nothing trains, collects data, pre-trains or evaluates
    assert rules and rules <= {"report", "experiment_report", "generalization_report", "guidance_report",
                               "sweep_report", "dm_quality", "dm_budget", "all"}, rules
    assert {"report", "experiment_report", "generalization_report"} <= rules
    start = time.time()
    proc = snakemake(work, env, "--cores", "2", "--forceall", "paper/default/README.md", "generalization",
                     "--config", "rerender=committed", timeout=2400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(f"re-rendered in {time.time() - start:.0f} s")
    rendered = sorted(p for p in (work / "paper/default").rglob("*") if p.is_file() and p.stat().st_mtime >= start)
    assert any(p.name == "main_table.md" for p in rendered) and any(p.name == "generalization.md" for p in rendered)
    compared = 0
    for path in rendered:
        name = path.relative_to(work)
        if path.suffix in COMPARED and path.name != "README.md":  # the index page names its own commands
            assert path.read_bytes() == (ROOT / name).read_bytes(), name
            compared += 1
    assert compared >= 15
    assert "Missing metadata" not in proc.stderr
    # The Snakemake report of the re-rendered pages: figures and tables, and no metadata warnings.
    report = work / "report.zip"
    proc = snakemake(work, env, "--report", str(report), "paper/default/README.md", "generalization", "--config",
                     "rerender=committed", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Missing metadata" not in proc.stderr + proc.stdout
    with zipfile.ZipFile(report) as bundle:
        names = bundle.namelist()
    assert any(n.endswith("main_table.html") for n in names) and any(n.endswith("improvement.png") for n in names)


def test_a_run_that_is_not_committed_is_one_line(fresh_clone):
    work, env = fresh_clone
    proc = snakemake(work, env, "-n", "--forceall", "--config", "rerender=committed", "seeds=[1,2,3,4]")
    assert proc.returncode == 1
    assert ("error: config 'rerender': results/default/runs/ant_reach/bc/seed4: not committed (30 run(s) "
            "missing)") in proc.stderr
