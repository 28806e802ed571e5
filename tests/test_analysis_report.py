"""Tests of the main report (analysis.loading, tables, costs, report and make_report.py) on tiny
fake runs."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import costs, tables
from analysis.files import REPORT_FILES
from analysis.labels import Registry
from analysis.loading import load_curves, load_paper_results, load_references, load_runs
from analysis.statistics import score_matrices
from dbc_bench.errors import BenchError
from workflow.scripts import make_report

REPO = Path(__file__).resolve().parents[1]
PAPER_YAML = REPO / "config" / "paper_results.yaml"
REPS = 200
REGISTRY = Registry(methods={"bc": "BC", "dbc": "DBC", "gail": "GAIL"}, tasks={"maze": "Maze", "walker": "Walker"})


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
    inputs = {}
    if method == "dbc":  # DBC's runs point at their task's pre-trained diffusion model
        dm = root.parent / "diffusion_model" / task
        dm.mkdir(parents=True, exist_ok=True)
        (dm / "timing.json").write_text(json.dumps({"wall_seconds": 60.0}))
        inputs = {"diffusion_model": str(dm / "model.pt")}
    (d / "run.json").write_text(json.dumps({"task": task, "method": method, "seed": seed,
                                            "budget": budget, "other": 1, "inputs": inputs, "transitions": 1280,
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


def load(runs, refs):
    return load_runs(run_dirs(runs), load_references(refs), REGISTRY)


# --------------------------------------------------------------------------- loading


def test_load_runs_scores(fake):
    _, runs, refs = fake
    df = load(runs, refs)
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


def test_runs_sorted_by_registry_not_alphabet(fake):
    _, runs, refs = fake
    registry = Registry(methods={"dbc": "DBC", "bc": "BC"}, tasks={"walker": "Walker", "maze": "Maze"})
    df = load_runs(run_dirs(runs), load_references(refs), registry)
    assert list(df.task.unique()) == ["walker", "maze"]
    assert list(df.method.unique()) == ["dbc", "bc", "my_variant"]


def test_score_matrix_shape_and_unequal_seeds(fake):
    tmp, runs, refs = fake
    mats, tasks, notes = score_matrices(load(runs, refs), registry=REGISTRY)
    assert tasks == ["maze", "walker"] and notes == []
    assert mats["bc"].shape == (3, 2)
    np.testing.assert_allclose(mats["bc"][:, 1], [0.9, 0.8, 0.85])
    write_run(runs, "maze", "bc", 4, "success", [1, 0])
    df = load(runs, refs)
    with pytest.raises(BenchError, match="bc.*unequal seed counts.*maze: 4, walker: 3"):
        score_matrices(df, registry=REGISTRY)
    mats, _, notes = score_matrices(df, on_unequal="common", registry=REGISTRY)
    assert mats["bc"].shape == (3, 2) and any("bc" in n for n in notes)


def test_load_curves_fraction_of_training(fake):
    tmp, runs, refs = fake
    table = load(runs, refs)
    curves = load_curves(table)
    assert len(curves) == 2 * len(table)
    assert sorted(curves.fraction.unique()) == [0.5, 1.0]
    walker = curves[(curves.task == "walker") & (curves.method == "dbc") & (curves.seed == 1)]
    assert walker.raw.tolist() == pytest.approx([1000 + 4000 * 0.95 - 500, 1000 + 4000 * 0.95])


# --------------------------------------------------------------------------- tables


def test_per_task_table_has_paper_numbers_and_difference(fake):
    _, runs, refs = fake
    df = load(runs, refs)
    paper = load_paper_results(PAPER_YAML)
    assert paper[("dbc", "walker")] == (7034.6, 33.7)
    assert paper[("ibc", "fetch_pick")] == (69.4, 7.3)
    t = tables.per_task_table(df, paper, reps=REPS, seed=0, registry=REGISTRY).set_index(["task", "method"])
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
    fmt = tables.format_task_table(t.reset_index(), registry=REGISTRY)
    row = fmt[(fmt.Method == "BC") & fmt.Task.str.startswith("Maze")].iloc[0]
    assert row["Paper mean ± std"] == "92.1 ± 3.6" and row["Ours - Paper"] == "-7.1"
    assert fmt[fmt.Method == "my_variant"]["Paper mean ± std"].eq("-").all()
    md = tables.markdown_table(fmt)
    assert md.startswith("| Task | Method |") and "92.1 ± 3.6" in md
    tex = tables.latex_table(fmt, caption="x_y 5%")
    assert r"92.1 $\pm$ 3.6" in tex and r"x\_y 5\%" in tex and "my\\_variant" in tex


def test_best_table_separate(fake):
    _, runs, refs = fake
    best = tables.per_task_table(load(runs, refs), {}, reps=REPS, seed=0, kind="best").set_index(["task", "method"])
    assert best.loc[("maze", "bc"), "mean"] == pytest.approx(100.0)


def test_cost_table_charges_dbc_its_pretraining(fake):
    _, runs, refs = fake
    table = costs.cost_table(load(runs, refs)).set_index(["task", "method"])
    bc, dbc = table.loc[("maze", "bc")], table.loc[("maze", "dbc")]
    assert bc["seeds"] == 3 and bc["train_s"] == pytest.approx(20.0)  # mean of 10, 20, 30
    assert bc["pretrain_s"] == 0 and dbc["pretrain_s"] == pytest.approx(60.0)
    assert dbc["total_min_per_seed"] == pytest.approx((23.0 + 60.0 / 3) / 60)
    assert bc["peak_rss_mb"] == pytest.approx(503.0)  # the worst seed, not the mean
    assert costs.hardware_note(load(runs, refs)["run_dir"]).endswith("(the runs' records)")


def test_cost_table_latency_columns_and_bad_file(fake):
    tmp, runs, refs = fake
    good = tmp / "maze_bc.json"
    good.write_text(json.dumps({"task": "maze", "method": "bc", "batch": 10, "latency_ms_batch1": 0.25,
                                "latency_ms_batched": 0.5}))
    table = costs.cost_table(load(runs, refs), costs.load_latencies([good]))
    shown = costs.format_cost_table(table, REGISTRY).set_index(["Task", "Method"])
    assert shown.loc[("Maze", "BC"), "Latency (ms/action, 1 env)"] == "0.250"
    assert shown.loc[("Maze", "BC"), "Latency (ms/batch)"] == "0.50 (10 envs)"
    assert shown.loc[("Maze", "DBC"), "Latency (ms/batch)"] == "-"  # not measured
    bad = tmp / "bad.json"
    bad.write_text(json.dumps({"task": "maze", "method": "bc", "batch": 10, "latency_ms_batch1": None}))
    with pytest.raises(BenchError, match="bad.json.*latency_ms_batch1"):
        costs.load_latencies([bad])


# --------------------------------------------------------------------------- make_report.py


def cli_args(runs, refs, out, *extra):
    return ["--runs", *map(str, run_dirs(runs)), "--references", *map(str, refs), "--paper-results", str(PAPER_YAML),
            "--registry", json.dumps({"methods": REGISTRY.methods, "tasks": REGISTRY.tasks}),
            "--out", str(out), "--reps", str(REPS), "--seed", "0", "--title", "budget: default", *extra]


def test_main_table_gives_each_cells_share_of_the_papers_updates(fake):
    tmp, runs, refs = fake
    lengths = {"bc": {"maze": {"epochs": 40, "batch_size": 128}}, "dbc": {"maze": {"env_steps": 100}}}
    assert make_report.main(cli_args(runs, refs, tmp / "r", "--paper-lengths", json.dumps(lengths))) == 0
    rows = [line.split("|") for line in (tmp / "r" / "main_table.md").read_text().splitlines()
            if line.startswith("| Maze")]
    share = {cells[2].strip(): cells[-2].strip() for cells in rows}
    # 100 updates (each run's last evaluation) of 40 x ceil(1280 / 128) = 400, and of 100 env steps.
    assert share == {"BC": "25%", "DBC": "100%", "my_variant": "-"}


def test_learning_curve_legends_give_each_cells_share_of_the_papers_updates(fake):
    from analysis.report import training_lengths

    tmp, runs, refs = fake
    table = load(runs, refs)
    table = table[table.task == "maze"]
    lengths = training_lengths(table, load_curves(table), {"bc": {"maze": {"epochs": 40, "batch_size": 128}}})
    assert lengths[("maze", "bc")] == "100 updates, 25% of paper"  # as the main table's share above
    assert lengths[("maze", "dbc")] == "100 updates"  # no paper length given: no share


def test_make_report_end_to_end(fake):
    tmp, runs, refs = fake
    out = tmp / "report"
    assert make_report.main(cli_args(runs, refs, out)) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)  # every file, no temporary left
    assert all((out / name).stat().st_size > 0 for name in REPORT_FILES)
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 18 and {"final_raw", "final_norm", "best_raw", "best_norm"} <= set(scores.columns)
    agg = pd.read_csv(out / "aggregates.csv")
    assert list(agg.columns) == ["method", "metric", "estimate", "ci_low", "ci_high"]
    assert set(agg.method) == {"bc", "dbc", "my_variant"} and len(agg) == 12
    main_md = (out / "main_table.md").read_text()
    assert "budget: default" in main_md and "92.1 ± 3.6" in main_md and "GAIL" not in main_md
    assert "BEST" in (out / "best_table.md").read_text()
    assert "P(DBC > BC)" in main_md and "P(DBC > my_variant)" in main_md
    improvement = pd.read_csv(out / "improvement.csv")
    assert set(improvement.other) == {"bc", "my_variant"} and (improvement.method == "dbc").all()
    assert (out / "aggregate_intervals.pdf").read_bytes().startswith(b"%PDF")
    # The index page opens with the main table itself, then the figures that carry the story, then the rest.
    index = (out / "README.md").read_text()
    opening, rest = index.split("## Every output\n")
    assert opening.index("## The main table") < opening.index("| Maze") < opening.index("![aggregate_intervals.png]")
    assert "P(DBC > BC)" in opening and "![improvement.png]" in opening and "![learning_curves.png]" in rest
    # Tables as HTML too, for `snakemake --report` (which shows HTML inline, not Markdown).
    page = (out / "main_table.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<table") == 3 and "P(DBC &gt; BC)" in page
    # rerun: identical tables and figures
    first = {n: (out / n).read_bytes() for n in REPORT_FILES}
    assert make_report.main(cli_args(runs, refs, out)) == 0
    for n in REPORT_FILES:
        assert (out / n).read_bytes() == first[n], n


def _run_fails(capsys, args) -> str:
    assert make_report.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err
    return err


def test_make_report_refuses_unfinished_run(fake, capsys):
    tmp, runs, refs = fake
    target = runs / "walker" / "dbc" / "seed2" / "eval_final.csv"
    target.unlink()
    err = _run_fails(capsys, cli_args(runs, refs, tmp / "out"))
    assert str(target) in err and "unfinished" in err


def test_make_report_missing_column(fake, capsys):
    tmp, runs, refs = fake
    target = runs / "maze" / "bc" / "seed1" / "eval_curve.csv"
    pd.read_csv(target).drop(columns="update").to_csv(target, index=False)
    err = _run_fails(capsys, cli_args(runs, refs, tmp / "out"))
    assert str(target) in err and "'update'" in err


def test_make_report_nan_score(fake, capsys):
    tmp, runs, refs = fake
    target = runs / "walker" / "bc" / "seed3" / "eval_final.csv"
    f = pd.read_csv(target)
    f.loc[1, "return"] = np.nan
    f.to_csv(target, index=False)
    err = _run_fails(capsys, cli_args(runs, refs, tmp / "out"))
    assert str(target) in err and "'return'" in err


def test_make_report_bad_reference(fake, capsys):
    tmp, runs, refs = fake
    bad = write_reference(tmp / "runs", "walker", "return", 10.0, 10.0)
    err = _run_fails(capsys, cli_args(runs, [refs[0], bad], tmp / "out"))
    assert str(bad) in err and "walker" in err


def test_make_report_bad_registry(fake, capsys):
    tmp, runs, refs = fake
    args = cli_args(runs, refs, tmp / "out")
    args[args.index("--registry") + 1] = '{"methods": ["bc"]}'
    assert "--registry" in _run_fails(capsys, args)


def test_report_flags_runs_that_mix_datasets_or_versions(fake):
    from analysis.report import mixing_notes

    _, runs, refs = fake

    def record(run, dataset: str, torch_version: str):
        meta = json.loads((run / "run.json").read_text())
        meta.update(dataset_sha256={"data/main_data.hdf5": dataset},
                    provenance={"versions": {"torch": torch_version, "numpy": "2.3.1"}})
        (run / "run.json").write_text(json.dumps(meta))

    for run in run_dirs(runs):
        record(run, "a" * 64, "2.13.0")
    assert mixing_notes(load(runs, refs)) == []
    record(runs / "maze" / "dbc" / "seed2", "b" * 64, "2.13.0")
    record(runs / "walker" / "bc" / "seed1", "a" * 64, "2.12.1")
    notes = mixing_notes(load(runs, refs))
    assert len(notes) == 2
    assert notes[0].startswith("WARNING: the runs of maze trained on different datasets") and "dbc/seed2)" in notes[0]
    assert "torch 2.12.1 / 2.13.0" in notes[1] and "numpy" not in notes[1]


def test_every_declared_output_is_indexed_and_every_experiment_is_a_target():
    """analysis.files declares each output once: the index page, the file list and the targets follow."""
    import subprocess
    import sys

    from analysis.files import EXPERIMENTS, MAIN_OUTPUTS
    from analysis.report import ReportSettings, index_page

    page = index_page(ReportSettings(with_experiments=True))
    for output in MAIN_OUTPUTS:
        assert f"## {output.name}\n\n{output.caption}" in page
    assert set(REPORT_FILES) == {name for o in MAIN_OUTPUTS for name in o.files} | {"README.md"}
    for experiment in EXPERIMENTS:
        assert f"`snakemake --cores 8 {experiment.name}`: {experiment.caption}" in page
    root = Path(__file__).resolve().parents[1]
    rules = subprocess.run([sys.executable, "-m", "snakemake", "--list-rules"], cwd=root, capture_output=True,
                           text=True, timeout=300)
    assert rules.returncode == 0, rules.stderr[-2000:]
    assert {e.name for e in EXPERIMENTS} <= set(rules.stdout.split())


@pytest.fixture
def drawn(monkeypatch):
    """The figures a plot function draws, kept open instead of saved."""
    import analysis.figures as figures

    kept = []
    monkeypatch.setattr(figures, "save_pdf_png", lambda fig, stem: kept.append(fig) or [])
    return kept


def test_every_interval_has_a_drawn_mark_even_of_zero_width(drawn, tmp_path):
    from analysis import figures

    improvement = pd.DataFrame([{"method": "dbc", "other": "bc", "estimate": 0.6, "ci_low": 0.4, "ci_high": 0.8},
                                {"method": "dbc", "other": "ibc", "estimate": 1.0, "ci_low": 1.0, "ci_high": 1.0}])
    figures.plot_improvement(improvement, figures.method_palette(["bc", "dbc", "ibc"]), tmp_path / "i")
    ax = drawn[-1].axes[0]
    marks = sorted(tuple(line.get_xydata()[0]) for line in ax.lines if line.get_marker() == "D")
    assert marks == [(0.6, 1.0), (1.0, 0.0)]  # one per row, P = 1 [1, 1] included
    low, high = ax.get_xlim()
    assert low < 0.0 and high > 1.0  # a mark at 0 or 1 is inside the axes


def test_the_main_methods_take_five_hue_families():
    import colorsys

    from analysis import figures

    colours = figures.method_palette(["bc", "dbc", "ibc", "diffusion_policy", "gail"])
    hls = {m: colorsys.rgb_to_hls(*c) for m, c in colours.items()}
    coloured = {m: h for m, (h, _, s) in hls.items() if s > 0.25}
    assert len(coloured) >= 4
    for a in coloured:
        for b in coloured:
            gap = abs(coloured[a] - coloured[b])
            assert a == b or min(gap, 1 - gap) > 0.08, (a, b)  # about 30 degrees of hue apart


def test_every_method_of_a_learning_curve_panel_is_in_its_legend(drawn, tmp_path):
    from analysis import figures

    rows = [{"task": task, "method": method, "point": p, "fraction": (p + 1) / 2, "estimate": 0.5,
             "ci_low": 0.4, "ci_high": 0.6}
            for task, methods in (("maze", ["bc"]), ("walker", ["bc", "gail"])) for method in methods for p in (0, 1)]
    lengths = {("maze", "bc"): "9.3k updates", ("walker", "bc"): "15k updates", ("walker", "gail"): "500.0k env steps"}
    figures.plot_learning_curves(pd.DataFrame(rows), {"maze": "success", "walker": "return"},
                                 figures.method_palette(["bc", "gail"]), tmp_path / "c", lengths=lengths)
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in drawn[-1].axes]
    assert legends == [["bc (9.3k updates)"], ["bc (15k updates)", "gail (500.0k env steps)"]]
