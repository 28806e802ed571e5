"""Tests of the report stage (workflow/scripts/scoring.py and make_report.py) on tiny fake runs."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import make_report
import scoring as sc

REPO = Path(__file__).resolve().parents[1]
PAPER_YAML = REPO / "config" / "paper_results.yaml"
REPS = 200


# --------------------------------------------------------------------------- fake inputs


def write_reference(dirpath: Path, task: str, metric: str, lo: float = 0.0, hi: float = 1.0) -> Path:
    path = dirpath / f"{task}.json"
    path.write_text(json.dumps({"task": task, "metric": metric, "ref_min_score": lo, "ref_max_score": hi}))
    return path


def write_run(root: Path, task: str, method: str, seed: int, metric: str, values, curve=None,
              budget: str = "default") -> Path:
    """`values`: per-episode scores of eval_final; `curve`: {update: per-episode scores}."""
    d = root / task / method / f"seed{seed}"
    d.mkdir(parents=True)
    context = {}
    if method == "dbc":  # DBC's runs point at their task's pre-trained diffusion model
        dm = root.parent / "diffusion_model" / task
        dm.mkdir(parents=True, exist_ok=True)
        (dm / "timing.json").write_text(json.dumps({"wall_seconds": 60.0}))
        context = {"diffusion_model": str(dm / "model.pt")}
    (d / "run.json").write_text(json.dumps({"task": task, "method": method, "seed": seed,
                                            "budget": budget, "other": 1, "context": context,
                                            "device": "cpu", "threads": 1}))
    (d / "timing.json").write_text(json.dumps({
        "train_seconds": 10.0 * seed, "eval_seconds": 2.0, "wall_seconds": 10.0 * seed + 3.0,
        "updates_per_second": 100.0, "peak_rss_mb": 500.0 + seed, "updates": 1000}))
    values = np.asarray(values, dtype=float)

    def frame(vals):
        vals = np.asarray(vals, dtype=float)
        return pd.DataFrame({
            "episode": np.arange(len(vals)), "eval_seed": 1000 + np.arange(len(vals)),
            "success": vals if metric == "success" else (vals > 0).astype(int),
            "return": vals if metric == "return" else vals * 10.0,
            "length": 50,
        })

    frame(values).to_csv(d / "eval_final.csv", index=False)
    curve = curve if curve is not None else {100: values}
    pd.concat([frame(v).assign(update=u) for u, v in curve.items()])[
        ["update", "episode", "eval_seed", "success", "return", "length"]].to_csv(
        d / "eval_curve.csv", index=False)
    return d


def run_dirs(runs):
    return sorted(runs.glob("*/*/seed*"))


@pytest.fixture
def fake(tmp_path):
    """Two tasks (maze: success, walker: return with refs 1000..5000), three methods, 3 seeds."""
    runs = tmp_path / "runs"
    refs = [write_reference(tmp_path, "maze", "success"),
            write_reference(tmp_path, "walker", "return", 1000.0, 5000.0)]
    rates = {"bc": [0.9, 0.8, 0.85], "dbc": [0.95, 0.9, 1.0], "my_variant": [0.5, 0.6, 0.7]}
    for method, rs in rates.items():
        for seed, r in zip((1, 2, 3), rs):
            n_ok = int(round(r * 20))
            final = [1] * n_ok + [0] * (20 - n_ok)
            write_run(runs, "maze", method, seed, "success", final,
                      curve={50: [1] * 20, 100: final})
            ret = 1000 + 4000 * r
            write_run(runs, "walker", method, seed, "return", [ret - 10, ret + 10],
                      curve={50: [ret - 500, ret - 500], 100: [ret - 10, ret + 10]})
    return tmp_path, runs, refs


# --------------------------------------------------------------------------- normalisation, IQM


def test_normalise_return_and_success():
    assert sc.normalise(3000.0, "return", 1000.0, 5000.0, task="walker") == pytest.approx(0.5)
    assert sc.normalise(500.0, "return", 1000.0, 5000.0) == pytest.approx(-0.125)
    assert sc.normalise(0.7, "success", 0.0, 0.0) == pytest.approx(0.7)


@pytest.mark.parametrize("hi", [1000.0, 900.0])
def test_normalise_rejects_max_not_above_min(hi):
    with pytest.raises(ValueError, match="walker"):
        sc.normalise(1.0, "return", 1000.0, hi, task="walker")


def test_iqm_hand_computed():
    # 8 runs on one task: IQM drops the lowest and highest two, mean(3, 4, 5, 6) = 4.5
    scores = np.arange(1, 9, dtype=float).reshape(-1, 1)
    agg = sc.aggregate_scores({"bc": scores}, reps=REPS, seed=0).set_index("metric")
    assert agg.loc["iqm", "estimate"] == pytest.approx(4.5)
    assert agg.loc["mean", "estimate"] == pytest.approx(4.5)
    assert agg.loc["median", "estimate"] == pytest.approx(4.5)
    assert agg.loc["optimality_gap", "estimate"] == pytest.approx(0.0)  # every score >= 1
    assert (agg["ci_low"] <= agg["estimate"] + 1e-12).all()
    assert (agg["estimate"] <= agg["ci_high"] + 1e-12).all()


def test_bootstrap_cis_reproducible_and_seed_dependent():
    rng = np.random.default_rng(5)
    m = {"bc": rng.uniform(size=(5, 3)), "dbc": rng.uniform(size=(5, 3))}
    a = sc.aggregate_scores(m, reps=REPS, seed=0)
    np.random.seed(123)  # the caller's global state must not matter
    b = sc.aggregate_scores(m, reps=REPS, seed=0)
    c = sc.aggregate_scores(m, reps=REPS, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a[["ci_low", "ci_high"]], c[["ci_low", "ci_high"]])
    # a method's interval does not depend on which other methods are in the report
    alone = sc.aggregate_scores({"dbc": m["dbc"]}, reps=REPS, seed=0)
    pd.testing.assert_frame_equal(alone.reset_index(drop=True),
                                  a[a.method == "dbc"].reset_index(drop=True))


def test_bootstrap_restores_global_rng():
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    sc.bootstrap(np.ones((3, 2)), lambda x: np.array([x.mean()]), reps=10, seed=0)
    assert np.random.rand() == expected


# --------------------------------------------------------------------------- loading


def test_load_runs_scores(fake):
    _, runs, refs = fake
    df = sc.load_runs(run_dirs(runs), sc.load_references(refs))
    assert len(df) == 18
    assert list(df.method.unique()) == ["bc", "dbc", "my_variant"]
    assert list(df.task.unique()) == ["maze", "walker"]
    row = df[(df.task == "maze") & (df.method == "bc") & (df.seed == 2)].iloc[0]
    assert row.final_raw == pytest.approx(0.8) and row.final_norm == pytest.approx(0.8)
    assert row.best_raw == pytest.approx(1.0) and row.best_update == 50
    w = df[(df.task == "walker") & (df.method == "dbc") & (df.seed == 1)].iloc[0]
    assert w.final_raw == pytest.approx(1000 + 4000 * 0.95)
    assert w.final_norm == pytest.approx(0.95)
    assert w.best_raw == pytest.approx(w.final_raw) and w.best_update == 100


def test_score_matrix_shape_and_unequal_seeds(fake):
    tmp, runs, refs = fake
    references = sc.load_references(refs)
    mats, tasks, notes = sc.score_matrices(sc.load_runs(run_dirs(runs), references))
    assert tasks == ["maze", "walker"] and notes == []
    assert mats["bc"].shape == (3, 2)
    np.testing.assert_allclose(mats["bc"][:, 1], [0.9, 0.8, 0.85])
    write_run(runs, "maze", "bc", 4, "success", [1, 0])
    df = sc.load_runs(run_dirs(runs), references)
    with pytest.raises(sc.ReportError, match="bc.*unequal seed counts.*maze: 4, walker: 3"):
        sc.score_matrices(df)
    mats, _, notes = sc.score_matrices(df, on_unequal="common")
    assert mats["bc"].shape == (3, 2) and any("bc" in n for n in notes)


def test_palette_stable_and_unknown_methods_after_known():
    a = sc.method_palette(["zeta", "gail", "bc", "bc_l2", "dbc"])
    b = sc.method_palette(["dbc", "bc_l2", "bc", "zeta", "gail"])
    assert a == b
    colours = [tuple(c) for c in __import__("seaborn").color_palette("colorblind", 10)]
    assert a["bc"] == colours[0] and a["gail"] == colours[4]
    assert a["bc_l2"] == colours[5] and a["zeta"] == colours[7]  # after every known method, dbc_nonorm at 6
    assert sc.order_methods(["zeta", "gail", "bc_l2", "ibc"]) == ["ibc", "gail", "bc_l2", "zeta"]


# --------------------------------------------------------------------------- tables


def test_per_task_table_has_paper_numbers_and_difference(fake):
    _, runs, refs = fake
    df = sc.load_runs(run_dirs(runs), sc.load_references(refs))
    paper = sc.load_paper_results(PAPER_YAML)
    assert paper[("dbc", "walker")] == (7034.6, 33.7)
    assert paper[("ibc", "fetch_pick")] == (69.4, 7.3)
    t = sc.per_task_table(df, paper, reps=REPS, seed=0).set_index(["task", "method"])
    bc_maze = t.loc[("maze", "bc")]
    assert bc_maze["mean"] == pytest.approx(85.0)  # success shown in percent
    assert bc_maze["std"] == pytest.approx(5.0)  # sample std of 90, 80, 85
    assert bc_maze["paper_mean"] == 92.1 and bc_maze["paper_std"] == 3.6
    assert bc_maze["diff"] == pytest.approx(85.0 - 92.1)
    assert bc_maze["iqm_ci_low"] <= bc_maze["iqm"] <= bc_maze["iqm_ci_high"]
    walker_dbc = t.loc[("walker", "dbc")]
    assert walker_dbc["mean"] == pytest.approx(1000 + 4000 * 0.95)  # return stays raw
    assert walker_dbc["diff"] == pytest.approx(4800.0 - 7034.6)
    assert math.isnan(t.loc[("maze", "my_variant")]["paper_mean"])
    fmt = sc.format_task_table(t.reset_index())
    row = fmt[(fmt.Method == "BC") & fmt.Task.str.startswith("Maze")].iloc[0]
    assert row["Paper mean ± std"] == "92.1 ± 3.6" and row["Ours - Paper"] == "-7.1"
    assert fmt[fmt.Method == "my_variant"]["Paper mean ± std"].eq("-").all()
    md = sc.markdown_table(fmt)
    assert md.startswith("| Task | Method |") and "92.1 ± 3.6" in md
    tex = sc.latex_table(fmt, caption="x_y 5%")
    assert r"92.1 $\pm$ 3.6" in tex and r"x\_y 5\%" in tex and "my\\_variant" in tex


def test_best_table_separate(fake):
    _, runs, refs = fake
    df = sc.load_runs(run_dirs(runs), sc.load_references(refs))
    best = sc.per_task_table(df, {}, reps=REPS, seed=0, kind="best").set_index(["task", "method"])
    assert best.loc[("maze", "bc"), "mean"] == pytest.approx(100.0)


# --------------------------------------------------------------------------- CLI


def cli_args(tmp, runs, refs, out, *extra):
    return ["--runs", *map(str, run_dirs(runs)), "--references", *map(str, refs), "--paper-results", str(PAPER_YAML),
            "--out", str(out), "--reps", str(REPS), "--seed", "0", "--title", "budget: default", *extra]


def test_make_report_end_to_end(fake):
    tmp, runs, refs = fake
    out = tmp / "report"
    assert make_report.main(cli_args(tmp, runs, refs, out)) == 0
    for name in make_report.OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 18 and {"final_raw", "final_norm", "best_raw", "best_norm"} <= set(scores.columns)
    agg = pd.read_csv(out / "aggregates.csv")
    assert list(agg.columns) == ["method", "metric", "estimate", "ci_low", "ci_high"]
    assert set(agg.method) == {"bc", "dbc", "my_variant"} and len(agg) == 12
    main_md = (out / "main_table.md").read_text()
    assert "budget: default" in main_md and "92.1 ± 3.6" in main_md and "GAIL" not in main_md
    assert "BEST" in (out / "best_table.md").read_text()
    assert "P(DBC > BC)" in main_md
    improvement = pd.read_csv(out / "improvement.csv")
    assert set(improvement.other) == {"bc", "my_variant"} and (improvement.method == "dbc").all()
    assert (out / "aggregate_intervals.pdf").read_bytes().startswith(b"%PDF")
    # rerun: identical tables and figures
    first = {n: (out / n).read_bytes() for n in make_report.OUTPUTS}
    assert make_report.main(cli_args(tmp, runs, refs, out)) == 0
    for n in make_report.OUTPUTS:
        assert (out / n).read_bytes() == first[n], n


def _run_fails(capsys, args) -> str:
    assert make_report.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("make_report: error:") and "\n" not in err
    return err


def test_make_report_missing_file(fake, capsys):
    tmp, runs, refs = fake
    target = runs / "walker" / "dbc" / "seed2" / "eval_final.csv"
    target.unlink()
    assert str(target) in _run_fails(capsys, cli_args(tmp, runs, refs, tmp / "out"))


def test_make_report_missing_column(fake, capsys):
    tmp, runs, refs = fake
    target = runs / "maze" / "bc" / "seed1" / "eval_curve.csv"
    pd.read_csv(target).drop(columns="update").to_csv(target, index=False)
    err = _run_fails(capsys, cli_args(tmp, runs, refs, tmp / "out"))
    assert str(target) in err and "'update'" in err


def test_make_report_nan_score(fake, capsys):
    tmp, runs, refs = fake
    target = runs / "walker" / "bc" / "seed3" / "eval_final.csv"
    f = pd.read_csv(target)
    f.loc[1, "return"] = np.nan
    f.to_csv(target, index=False)
    err = _run_fails(capsys, cli_args(tmp, runs, refs, tmp / "out"))
    assert str(target) in err and "'return'" in err


def test_make_report_bad_reference(fake, capsys):
    tmp, runs, refs = fake
    bad = write_reference(tmp / "runs", "walker", "return", 10.0, 10.0)
    err = _run_fails(capsys, cli_args(tmp, runs, [refs[0], bad], tmp / "out"))
    assert str(bad) in err and "walker" in err


def test_cost_table_charges_dbc_its_pretraining(fake):
    _, runs, refs = fake
    table = sc.cost_table(sc.load_runs(run_dirs(runs), sc.load_references(refs))).set_index(["task", "method"])
    bc, dbc = table.loc[("maze", "bc")], table.loc[("maze", "dbc")]
    assert bc["seeds"] == 3 and bc["train_s"] == pytest.approx(20.0)  # mean of 10, 20, 30
    assert bc["pretrain_s"] == 0 and dbc["pretrain_s"] == pytest.approx(60.0)
    assert dbc["total_min_per_seed"] == pytest.approx((23.0 + 60.0 / 3) / 60)
    assert bc["peak_rss_mb"] == pytest.approx(503.0)  # the worst seed, not the mean
    assert "Python 3." in sc.hardware_note()


def test_cost_table_latency_columns_and_bad_file(fake):
    tmp, runs, refs = fake
    good = tmp / "maze_bc.json"
    good.write_text(json.dumps({"task": "maze", "method": "bc", "batch": 10, "latency_ms_batch1": 0.25,
                                "latency_ms_batched": 0.5}))
    table = sc.cost_table(sc.load_runs(run_dirs(runs), sc.load_references(refs)), sc.load_latencies([good]))
    shown = sc.format_cost_table(table).set_index(["Task", "Method"])
    assert shown.loc[("Maze", "BC"), "Latency (ms/action, 1 env)"] == "0.250"
    assert shown.loc[("Maze", "BC"), "Latency (ms/batch)"] == "0.50 (10 envs)"
    assert shown.loc[("Maze", "DBC"), "Latency (ms/batch)"] == "-"  # not measured
    bad = tmp / "bad.json"
    bad.write_text(json.dumps({"task": "maze", "method": "bc", "batch": 10, "latency_ms_batch1": None}))
    with pytest.raises(sc.ReportError, match="bad.json.*latency_ms_batch1"):
        sc.load_latencies([bad])


def test_probability_of_improvement_hand_computed_and_seeded():
    better = np.array([[0.9, 0.8], [0.95, 0.85], [0.92, 0.9]])
    worse = np.array([[0.1, 0.2], [0.15, 0.25], [0.12, 0.3]])
    tied = better.copy()
    table = sc.probability_of_improvement({"dbc": better, "bc": worse, "bc_l2": tied}, "dbc", reps=REPS, seed=0)
    rows = table.set_index("other")
    assert rows.loc["bc", "estimate"] == pytest.approx(1.0)      # every dbc run beats every bc run
    assert rows.loc["bc_l2", "estimate"] == pytest.approx(0.5)   # identical scores: a coin flip
    assert rows.loc["bc_l2", "ci_low"] <= 0.5 <= rows.loc["bc_l2", "ci_high"]
    again = sc.probability_of_improvement({"dbc": better, "bc": worse, "bc_l2": tied}, "dbc", reps=REPS, seed=0)
    pd.testing.assert_frame_equal(table, again)


# --------------------------------------------------------------------------- profiles, learning curves


def test_score_distribution_matches_rliable_and_hand_computed():
    from rliable import library as rly

    scores = np.array([[0.2, 0.8], [0.5, 1.0]])
    taus = np.array([0.0, 0.5, 0.9, 1.0])
    # fraction of the 4 scores strictly above each threshold
    np.testing.assert_allclose(sc.score_distribution(scores, taus), [1.0, 0.5, 0.25, 0.0])
    rng = np.random.default_rng(0)
    m = rng.uniform(size=(5, 4))
    grid = np.linspace(0, 1, 21)
    np.testing.assert_array_equal(sc.score_distribution(m, grid), rly.score_distributions(m, grid))


def test_performance_profiles_bands_and_reproducible():
    m = {"bc": np.array([[0.2, 0.8], [0.5, 1.0], [0.4, 0.6]]), "dbc": np.full((3, 2), 0.7)}
    taus = sc.profile_thresholds(m, points=11)
    assert taus[0] == 0.0 and taus[-1] == 1.0
    prof = sc.performance_profiles(m, taus, reps=REPS, seed=0)
    assert len(prof) == 22 and (prof.ci_low <= prof.estimate + 1e-12).all() and (prof.estimate <= prof.ci_high + 1e-12).all()
    dbc = prof[prof.method == "dbc"].reset_index(drop=True)  # row k is tau = k / 10
    # a method that always scores 0.7: profile 1 below 0.7, 0 from 0.7 on, with no uncertainty
    assert dbc.loc[6, "estimate"] == 1.0 and dbc.loc[8, "estimate"] == 0.0
    assert dbc.loc[6, "ci_low"] == dbc.loc[6, "ci_high"] == 1.0
    pd.testing.assert_frame_equal(prof, sc.performance_profiles(m, taus, reps=REPS, seed=0))


def _curves(values: dict[tuple[str, str, int], list[float]]) -> pd.DataFrame:
    rows = [{"task": t, "method": m, "seed": s, "point": i, "update": 100 * (i + 1),
             "fraction": (i + 1) / len(v), "raw": x}
            for (t, m, s), v in values.items() for i, x in enumerate(v)]
    return pd.DataFrame(rows)


def test_learning_curve_iqm_hand_computed_and_reproducible():
    # 4 seeds; at point 0 the IQM drops 1 and 100 -> mean(2, 3) = 2.5; at point 1 all equal 7
    curves = _curves({("maze", "bc", s): [x, 7.0] for s, x in zip((1, 2, 3, 4), (1.0, 2.0, 3.0, 100.0))})
    curves = pd.concat([curves, _curves({("walker", "bc", s): [10.0 * s, 20.0 * s] for s in (1, 2, 3, 4)})])
    out = sc.learning_curve_intervals(curves, reps=REPS, seed=0).set_index(["task", "point"])
    assert out.loc[("maze", 0), "estimate"] == pytest.approx(2.5)
    assert out.loc[("maze", 1), ["estimate", "ci_low", "ci_high"]].tolist() == pytest.approx([7.0, 7.0, 7.0])
    assert out.loc[("walker", 1), "estimate"] == pytest.approx(50.0)  # mean(40, 60)
    assert out.loc[("maze", 1), "fraction"] == pytest.approx(1.0)
    pd.testing.assert_frame_equal(sc.learning_curve_intervals(curves, reps=REPS, seed=0),
                                  sc.learning_curve_intervals(curves, reps=REPS, seed=0))


def test_learning_curve_unequal_points_is_an_error():
    curves = _curves({("maze", "bc", 1): [0.1, 0.2], ("maze", "bc", 2): [0.3]})
    with pytest.raises(sc.ReportError, match="maze/bc"):
        sc.learning_curve_intervals(curves, reps=REPS, seed=0)


def test_load_curves_fraction_of_training(fake):
    tmp, runs, refs = fake
    table = sc.load_runs(run_dirs(runs), sc.load_references(refs))
    curves = sc.load_curves(table)
    assert len(curves) == 2 * len(table)
    assert sorted(curves.fraction.unique()) == [0.5, 1.0]
    walker = curves[(curves.task == "walker") & (curves.method == "dbc") & (curves.seed == 1)]
    assert walker.raw.tolist() == pytest.approx([1000 + 4000 * 0.95 - 500, 1000 + 4000 * 0.95])


def test_sweep_table_and_report(tmp_path, capsys):
    import sweep_report

    rows = [{"task": t, "method": f"dbc@lambda_dm={v:g}", "seed": s, "metric": "success", "final_raw": v / 10 + s / 100}
            for t in ("fetch_pick", "maze") for v in (0, 0.5, 2) for s in (1, 2, 3)]
    scores = pd.DataFrame(rows)
    method, key, table = sweep_report.sweep_table(scores, "scores.csv")
    assert (method, key) == ("dbc", "lambda_dm")
    assert list(table["task"].astype(str)[:3]) == ["maze"] * 3  # the report's task order
    row = table[(table.task == "maze") & (table.value == 2.0)].iloc[0]
    assert row["mean"] == pytest.approx(0.22) and row["std"] == pytest.approx(0.01) and row["seeds"] == 3
    path = tmp_path / "scores.csv"
    scores.to_csv(path, index=False)
    assert sweep_report.main(["--scores", str(path), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "sensitivity.md").read_text()
    assert "| Maze | 2 | 22.0 ± 1.0 | 3 |" in text and "Maze at 2" in text
    assert (tmp_path / "out" / "sensitivity.pdf").read_bytes().startswith(b"%PDF")
    # two swept keys are not one sweep: a one-line error naming the file
    scores.loc[0, "method"] = "dbc@epochs=3"
    scores.to_csv(path, index=False)
    assert sweep_report.main(["--scores", str(path), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sweep_report: error:") and str(path) in err and err.count("\n") == 1
