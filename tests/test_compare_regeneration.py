"""tools/compare_regeneration.py: the before/after table of DBC against BC per task."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "default"


def _tool():
    spec = importlib.util.spec_from_file_location("compare_regeneration", ROOT / "tools" / "compare_regeneration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _copy_maze(tmp_path: Path, active_fraction: float) -> Path:
    after = tmp_path / "after"
    shutil.copytree(RESULTS / "data", after / "data")
    for method in ("bc", "dbc"):
        shutil.copytree(RESULTS / "runs" / "maze" / method, after / "runs" / "maze" / method)
    for meta_path in (after / "runs" / "maze" / "dbc").glob("seed*/run.json"):
        meta = json.loads(meta_path.read_text())
        meta["dm_term"] = {"active_fraction": active_fraction}
        meta_path.write_text(json.dumps(meta))
    return after


def test_table_cells_come_from_the_runs(tmp_path):
    after = _copy_maze(tmp_path, 0.75)
    out = tmp_path / "table.md"
    assert _tool().main(["--before", str(RESULTS), "--after", str(after), "--reps", "200", "--out", str(out)]) == 0
    row = [line for line in out.read_text().splitlines() if line.startswith("| maze")][0].split(" | ")
    logged = np.mean([(log["dm_agent"] > log["dm_expert"]).mean() for log in
                      (pd.read_csv(d / "train_log.csv") for d in sorted((RESULTS / "runs/maze/dbc").glob("seed*")))])
    assert row[1] == row[2] == f"{100 * logged:.0f}%"
    assert row[3] == "75%"
    final = {m: np.mean([pd.read_csv(d / "eval_final.csv")["success"].mean() * 100
                         for d in sorted((RESULTS / "runs/maze" / m).glob("seed*"))]) for m in ("bc", "dbc")}
    assert row[4].startswith(f"{final['dbc'] - final['bc']:+.1f} [")
    assert row[4] == row[6]


def test_a_task_without_dbc_runs_is_one_line(tmp_path, capsys):
    after = _copy_maze(tmp_path, 0.5)
    shutil.rmtree(after / "runs" / "maze" / "dbc")
    assert _tool().main(["--before", str(RESULTS), "--after", str(after), "--tasks", "maze", "--reps", "50"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "runs/maze" in err[0]
