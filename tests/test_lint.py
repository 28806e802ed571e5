"""Lint and structure checks: ruff, snakefmt and Snakemake's linter find nothing; scripts stay thin;
long modules say why at their top."""
import subprocess
import sys
from pathlib import Path

import pytest

from dbc_bench import codehash

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGES = codehash.PACKAGES


@pytest.mark.parametrize("command", [
    [str(BIN / "ruff"), "check", "."],
    [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow"],
    [sys.executable, "-m", "snakemake", "--lint"],
], ids=["ruff", "snakefmt", "snakemake-lint"])
def test_no_lint_findings(command):
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    if "--lint" in command:
        assert "Lints for" not in proc.stdout + proc.stderr


def test_scripts_are_thin_wrappers_over_packages():
    for script in sorted((ROOT / "workflow" / "scripts").glob("*.py")):
        text = script.read_text()
        assert len(text.splitlines()) <= 110, f"{script.name}: move library code into a package"
        assert "sys.path" not in text, script.name
        for line in text.splitlines():
            if line.startswith(("import ", "from ")):
                module = line.split()[1].split(".")[0]
                assert not (ROOT / "workflow" / "scripts" / f"{module}.py").exists(), f"{script.name}: {line}"


def test_long_modules_say_why():
    for package in PACKAGES:
        for module in sorted((ROOT / package).rglob("*.py")):
            lines = module.read_text().splitlines()
            if len(lines) > 400:
                head = "\n".join(lines[:30])
                assert "Why this module is long" in head, f"{module.relative_to(ROOT)}: {len(lines)} lines"


def test_layers_point_one_way():
    """Tasks never import methods; the analysis never imports methods, envs or torch; only the workflow and
    its scripts import the plan layer (pipeline)."""
    forbidden = {"envs": ("methods", "analysis", "pipeline"), "analysis": ("methods", "envs", "torch", "pipeline"),
                 "dbc_bench": ("envs", "methods", "analysis", "benchmarks", "pipeline"),
                 "methods": ("pipeline",), "benchmarks": ("pipeline",)}
    for package, banned in forbidden.items():
        for module in sorted((ROOT / package).rglob("*.py")):
            for line in module.read_text().splitlines():
                words = line.strip().split()
                if len(words) > 1 and words[0] in ("import", "from"):
                    assert words[1].split(".")[0] not in banned, f"{module.relative_to(ROOT)}: {line.strip()}"
