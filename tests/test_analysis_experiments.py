"""Tests of analysis.experiments (generalisation table, hyperparameter sensitivity) and
analysis.timing through their command lines."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.experiments import load_sweep, sweep_table
from analysis.files import GENERALIZATION_FILES, SENSITIVITY_FILES
from analysis.labels import Registry
from workflow.scripts import dag_time, generalization_report, sweep_report

REGISTRY = Registry(methods={"bc": "BC", "dbc": "DBC"}, tasks={"maze": "Maze", "fetch_pick": "FetchPick"})
REGISTRY_ARG = ["--registry", json.dumps({"methods": REGISTRY.methods, "tasks": REGISTRY.tasks})]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
    return err


@pytest.fixture
def sweep(tmp_path) -> Path:
    """scores.csv of a lambda_dm sweep over 0, 0.5 and 2 (runs named without the value), 3 seeds."""
    rows = []
    for task in ("fetch_pick", "maze"):
        for i, value in enumerate((0, 0.5, 2)):
            for seed in (1, 2, 3):
                run_dir = tmp_path / "runs" / task / f"variant{i}" / f"seed{seed}"
                run_dir.mkdir(parents=True)
                (run_dir / "run.json").write_text(json.dumps({"config": {"lambda_dm": value, "lr": 1e-4}}))
                rows.append({"task": task, "method": f"variant{i}", "seed": seed, "metric": "success",
                             "final_raw": value / 10 + seed / 100, "run_dir": str(run_dir)})
    path = tmp_path / "scores.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_sweep_values_from_run_json_and_table(sweep):
    table = sweep_table(load_sweep(sweep, "lambda_dm"), REGISTRY)
    assert list(table["task"].astype(str)[:3]) == ["maze"] * 3  # the registry's task order
    row = table[(table.task == "maze") & (table.value == 2.0)].iloc[0]
    assert row["mean"] == pytest.approx(0.22) and row["std"] == pytest.approx(0.01) and row["seeds"] == 3


def test_sweep_report_writes_table_and_figure(sweep, tmp_path):
    out = tmp_path / "out"
    args = ["--scores", str(sweep), "--method", "dbc", "--key", "lambda_dm", "--out", str(out), *REGISTRY_ARG]
    assert sweep_report.main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(SENSITIVITY_FILES)
    text = (out / "sensitivity.md").read_text()
    assert "| Maze | 2 | 22.0 ± 1.0 | 3 |" in text and "Maze at 2" in text and "DBC with lambda_dm swept" in text
    assert (out / "sensitivity.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("config, problem", [({"lambda_dm": 2, "lr": 1e-3}, "differ in lr"),
                                             ({"lr": 1e-4}, "config.lambda_dm")])
def test_sweep_report_rejects_runs_that_are_not_one_sweep(sweep, tmp_path, capsys, config, problem):
    run_json = Path(pd.read_csv(sweep)["run_dir"].iloc[-1]) / "run.json"
    run_json.write_text(json.dumps({"config": config}))
    args = ["--scores", str(sweep), "--method", "dbc", "--key", "lambda_dm", "--out", str(tmp_path), *REGISTRY_ARG]
    assert sweep_report.main(args) == 1
    assert problem in one_line_error(capsys)


def test_generalization_report(tmp_path, capsys):
    evals = []
    for method, rate in (("dbc", 0.9), ("bc", 0.5)):
        for seed in (1, 2):
            for ratio in ("1", "1.5"):
                path = tmp_path / method / f"seed{seed}" / f"r{ratio}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                n_ok = int(10 * (rate - 0.1 * seed * float(ratio)))
                pd.DataFrame({"success": [1] * n_ok + [0] * (10 - n_ok)}).to_csv(path, index=False)
                evals.append(str(path))
    paper = tmp_path / "paper.yaml"
    paper.write_text("fetch_pick_generalisation:\n  results:\n    dbc: {1.0: {mean: 95.0, std: 1.0}}\n")
    out = tmp_path / "out"
    rest = ["--paper-results", str(paper), "--out", str(out), "--title", "t", *REGISTRY_ARG]
    assert generalization_report.main(["--evals", *evals, *rest]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(GENERALIZATION_FILES)
    text = (out / "generalization.md").read_text()
    # bc before dbc (the registry's order); seeds 1 and 2 at r = 1: 8 and 7 of 10 -> 75.0 ± 7.1
    assert text.index("| BC |") < text.index("| DBC |")
    assert "| DBC | 75.0 ± 7.1 (paper 95.0 ± 1.0) |" in text and "(paper -)" in text
    bad = tmp_path / "dbc" / "r1.csv"
    bad.write_text("success\n1\n")
    assert generalization_report.main(["--evals", str(bad), *rest]) == 1
    assert str(bad) in one_line_error(capsys)


def test_dag_time_without_benchmark_files(tmp_path, capsys):
    assert dag_time.main([str(tmp_path)]) == 1
    assert "no benchmark files" in one_line_error(capsys)
