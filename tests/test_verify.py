"""The `verify` comparison (analysis.verify) on small hand-made run folders."""
import json

import pytest

from analysis.verify import verify
from dbc_bench.errors import BenchError

HEADER = "episode,eval_seed,success,return,length\n"


def write_run(root, run, rows, code="c1"):
    folder = root / "runs" / run
    folder.mkdir(parents=True)
    (folder / "eval_final.csv").write_text(HEADER + "".join(f"{i},{1000000 + i},{s},{r},{n}\n"
                                                            for i, (s, r, n) in enumerate(rows)))
    (folder / "train_log.csv").write_text("update,loss\n1,0.5\n")
    (folder / "run.json").write_text(json.dumps({"code": code, "kernels": {"mode": "pinned"}}))


def write_summary(root, task, metric, files):
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / f"{task}.json").write_text(json.dumps({"metric": metric, "files": files}))


@pytest.fixture
def roots(tmp_path):
    committed, rerun = tmp_path / "committed", tmp_path / "rerun"
    rows = [(1, 1.0, 100 + i) for i in range(16)] + [(0, 0.0, 400)] * 4
    for root in (committed, rerun):
        write_summary(root, "maze", "success", {"data/main_data.hdf5": "aa", "data/metadata.json": "bb"})
        write_run(root, "maze/bc/seed1", rows)
    return committed, rerun, rows


def test_identical_runs_are_bit_identical(roots):
    committed, rerun, _ = roots
    text, data = verify(committed, rerun, ["maze"], ["maze/bc/seed1"], reps=200, seed=0)
    assert "- maze/bc/seed1: bit-identical (success 80)" in text
    assert "- maze: against the committed summary: identical" in text
    assert data["runs"][0]["bit_identical"] and data["runs"][0]["train_log_identical"]


def test_a_small_difference_is_measured_and_inside_the_ci(roots):
    committed, rerun, rows = roots
    (rerun / "runs/maze/bc/seed1").rename(rerun / "old")
    write_run(rerun, "maze/bc/seed1", [(0, 0.0, 400)] + rows[1:])  # one success lost: 75 against 80
    text, data = verify(committed, rerun, ["maze"], ["maze/bc/seed1"], reps=500, seed=0)
    row = data["runs"][0]
    assert not row["bit_identical"] and row["episodes_differing"] == 1 and row["max_abs_return_diff"] == 1.0
    assert row["rerun_score"] == 75.0 and row["inside_ci"]
    assert "maze/bc/seed1: differs: 1 episodes differ, largest return difference 1; success 75 against 80, " \
           "inside the committed run's 95% CI" in text


def test_a_large_difference_under_other_code_is_outside_the_ci_and_explained(roots):
    committed, rerun, rows = roots
    (rerun / "runs/maze/bc/seed1").rename(rerun / "old")
    write_run(rerun, "maze/bc/seed1", [(0, 0.0, 400)] * 20, code="c2")
    text, _ = verify(committed, rerun, ["maze"], ["maze/bc/seed1"], reps=500, seed=0)
    assert "differs (rerun under other code than the committed run: a difference is expected)" in text
    assert "OUTSIDE the committed run's 95% CI" in text


def test_differing_dataset_bytes_are_named(roots):
    committed, rerun, _ = roots
    write_summary(rerun, "maze", "success", {"data/main_data.hdf5": "cc", "data/metadata.json": "bb"})
    text, _ = verify(committed, rerun, ["maze"], ["maze/bc/seed1"], reps=200, seed=0)
    assert "- maze: against the committed summary: differs: data/main_data.hdf5" in text


def test_a_missing_committed_run_is_named(roots):
    committed, rerun, _ = roots
    with pytest.raises(BenchError, match=r"committed/runs/maze/dbc/seed1/eval_final\.csv: no committed run"):
        verify(committed, rerun, ["maze"], ["maze/dbc/seed1"], reps=200, seed=0)
