"""Tests of analysis.labels and analysis.statistics on hand-computed score matrices."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import seaborn as sns

from analysis import statistics as st
from analysis.figures import method_palette
from analysis.labels import Registry
from analysis.loading import normalise
from dbc_bench.errors import BenchError

REPS = 200
METHODS = {"bc": "BC", "dbc": "DBC", "ibc": "Implicit BC", "diffusion_policy": "Diffusion Policy", "gail": "GAIL",
           "bc_l2": "BC + L2", "dbc_nonorm": "DBC w/o normalisation"}
REGISTRY = Registry(methods=METHODS, tasks={"maze": "Maze", "walker": "Walker"})


def test_analysis_imports_neither_methods_nor_envs_nor_torch():
    code = ("import sys, analysis.report, analysis.experiments, analysis.timing; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'methods', 'envs', 'torch'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- names, order, colours


def test_registry_order_labels_and_unknown_names():
    ordered = REGISTRY.order_methods(["zeta", "gail", "bc_l2", "ibc", "alpha"])
    assert ordered == ["ibc", "gail", "bc_l2", "alpha", "zeta"]
    assert REGISTRY.method_label("dbc@lambda_dm=0.5") == "dbc@lambda_dm=0.5"  # outside the registry: its own name
    assert REGISTRY.task_label("walker") == "Walker"
    assert Registry().order_tasks(["walker", "maze"]) == ["maze", "walker"]  # empty registry: alphabetical


def test_registry_from_json_keeps_order_and_rejects_bad_input():
    reg = Registry.from_json(json.dumps({"methods": {"dbc": "DBC", "bc": "BC"}, "tasks": {"walker": "Walker"}}))
    assert reg.order_methods(["bc", "dbc"]) == ["dbc", "bc"]
    for bad in ("{", '{"method": {}}', '{"methods": ["bc"]}', '{"tasks": {"maze": 1}}'):
        with pytest.raises(BenchError, match="--registry"):
            Registry.from_json(bad)


def test_palette_stable_and_unknown_methods_after_known():
    a = method_palette(["zeta", "gail", "bc", "bc_l2", "dbc"], REGISTRY)
    b = method_palette(["dbc", "bc_l2", "bc", "zeta", "gail"], REGISTRY)
    assert a == b
    from analysis.figures import COLORBLIND_ORDER

    colours = [tuple(sns.color_palette("colorblind", 10)[i]) for i in COLORBLIND_ORDER]
    assert a["bc"] == colours[0] and a["gail"] == colours[4]
    assert a["bc_l2"] == colours[5] and a["zeta"] == colours[7]  # after every registry method, dbc_nonorm at 6


# --------------------------------------------------------------------------- normalisation, IQM


def test_normalise_return_and_success():
    assert normalise(3000.0, "return", 1000.0, 5000.0, task="walker") == pytest.approx(0.5)
    assert normalise(500.0, "return", 1000.0, 5000.0) == pytest.approx(-0.125)
    assert normalise(0.7, "success", 0.0, 0.0) == pytest.approx(0.7)


@pytest.mark.parametrize("hi", [1000.0, 900.0])
def test_normalise_rejects_max_not_above_min(hi):
    with pytest.raises(BenchError, match="walker"):
        normalise(1.0, "return", 1000.0, hi, task="walker")


def test_iqm_hand_computed():
    # 8 runs on one task: IQM drops the lowest and highest two, mean(3, 4, 5, 6) = 4.5
    scores = np.arange(1, 9, dtype=float).reshape(-1, 1)
    agg = st.aggregate_scores({"bc": scores}, reps=REPS, seed=0).set_index("metric")
    assert agg.loc["iqm", "estimate"] == pytest.approx(4.5)
    assert agg.loc["mean", "estimate"] == pytest.approx(4.5)
    assert agg.loc["median", "estimate"] == pytest.approx(4.5)
    assert agg.loc["optimality_gap", "estimate"] == pytest.approx(0.0)  # every score >= 1
    assert (agg["ci_low"] <= agg["estimate"] + 1e-12).all()
    assert (agg["estimate"] <= agg["ci_high"] + 1e-12).all()


def test_bootstrap_cis_reproducible_and_seed_dependent():
    rng = np.random.default_rng(5)
    m = {"bc": rng.uniform(size=(5, 3)), "dbc": rng.uniform(size=(5, 3))}
    a = st.aggregate_scores(m, reps=REPS, seed=0)
    np.random.seed(123)  # the caller's global state must not matter
    b = st.aggregate_scores(m, reps=REPS, seed=0)
    c = st.aggregate_scores(m, reps=REPS, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a[["ci_low", "ci_high"]], c[["ci_low", "ci_high"]])
    # a method's interval does not depend on which other methods are in the report
    alone = st.aggregate_scores({"dbc": m["dbc"]}, reps=REPS, seed=0)
    pd.testing.assert_frame_equal(alone.reset_index(drop=True),
                                  a[a.method == "dbc"].reset_index(drop=True))


def test_bootstrap_restores_global_rng():
    np.random.seed(7)
    expected = np.random.rand()
    np.random.seed(7)
    st.bootstrap(np.ones((3, 2)), lambda x: np.array([x.mean()]), reps=10, seed=0)
    assert np.random.rand() == expected


def test_probability_of_improvement_hand_computed_and_seeded():
    better = np.array([[0.9, 0.8], [0.95, 0.85], [0.92, 0.9]])
    worse = np.array([[0.1, 0.2], [0.15, 0.25], [0.12, 0.3]])
    tied = better.copy()
    matrices = {"dbc": better, "bc": worse, "bc_l2": tied}
    table = st.probability_of_improvement(matrices, "dbc", reps=REPS, seed=0)
    rows = table.set_index("other")
    assert rows.loc["bc", "estimate"] == pytest.approx(1.0)      # every dbc run beats every bc run
    assert rows.loc["bc_l2", "estimate"] == pytest.approx(0.5)   # identical scores: a coin flip
    assert rows.loc["bc_l2", "ci_low"] <= 0.5 <= rows.loc["bc_l2", "ci_high"]
    pd.testing.assert_frame_equal(table, st.probability_of_improvement(matrices, "dbc", reps=REPS, seed=0))


# --------------------------------------------------------------------------- profiles, learning curves


def test_score_distribution_matches_rliable_and_hand_computed():
    from rliable import library as rly

    scores = np.array([[0.2, 0.8], [0.5, 1.0]])
    taus = np.array([0.0, 0.5, 0.9, 1.0])
    # fraction of the 4 scores strictly above each threshold
    np.testing.assert_allclose(st.score_distribution(scores, taus), [1.0, 0.5, 0.25, 0.0])
    rng = np.random.default_rng(0)
    m = rng.uniform(size=(5, 4))
    grid = np.linspace(0, 1, 21)
    np.testing.assert_array_equal(st.score_distribution(m, grid), rly.score_distributions(m, grid))


def test_performance_profiles_bands_and_reproducible():
    m = {"bc": np.array([[0.2, 0.8], [0.5, 1.0], [0.4, 0.6]]), "dbc": np.full((3, 2), 0.7)}
    taus = st.profile_thresholds(m, points=11)
    assert taus[0] == 0.0 and taus[-1] == 1.0
    prof = st.performance_profiles(m, taus, reps=REPS, seed=0)
    assert len(prof) == 22
    assert (prof.ci_low <= prof.estimate + 1e-12).all() and (prof.estimate <= prof.ci_high + 1e-12).all()
    dbc = prof[prof.method == "dbc"].reset_index(drop=True)  # row k is tau = k / 10
    # a method that always scores 0.7: profile 1 below 0.7, 0 from 0.7 on, with no uncertainty
    assert dbc.loc[6, "estimate"] == 1.0 and dbc.loc[8, "estimate"] == 0.0
    assert dbc.loc[6, "ci_low"] == dbc.loc[6, "ci_high"] == 1.0
    pd.testing.assert_frame_equal(prof, st.performance_profiles(m, taus, reps=REPS, seed=0))


def _curves(values: dict[tuple[str, str, int], list[float]]) -> pd.DataFrame:
    rows = [{"task": t, "method": m, "seed": s, "point": i, "update": 100 * (i + 1),
             "fraction": (i + 1) / len(v), "raw": x}
            for (t, m, s), v in values.items() for i, x in enumerate(v)]
    return pd.DataFrame(rows)


def test_learning_curve_iqm_hand_computed_and_reproducible():
    # 4 seeds; at point 0 the IQM drops 1 and 100 -> mean(2, 3) = 2.5; at point 1 all equal 7
    curves = _curves({("maze", "bc", s): [x, 7.0] for s, x in zip((1, 2, 3, 4), (1.0, 2.0, 3.0, 100.0))})
    curves = pd.concat([curves, _curves({("walker", "bc", s): [10.0 * s, 20.0 * s] for s in (1, 2, 3, 4)})])
    out = st.learning_curve_intervals(curves, reps=REPS, seed=0).set_index(["task", "point"])
    assert out.loc[("maze", 0), "estimate"] == pytest.approx(2.5)
    assert out.loc[("maze", 1), ["estimate", "ci_low", "ci_high"]].tolist() == pytest.approx([7.0, 7.0, 7.0])
    assert out.loc[("walker", 1), "estimate"] == pytest.approx(50.0)  # mean(40, 60)
    assert out.loc[("maze", 1), "fraction"] == pytest.approx(1.0)
    pd.testing.assert_frame_equal(st.learning_curve_intervals(curves, reps=REPS, seed=0),
                                  st.learning_curve_intervals(curves, reps=REPS, seed=0))


def test_learning_curve_methods_in_registry_order():
    curves = _curves({("maze", m, s): [0.5] for m in ("zeta", "dbc", "bc") for s in (1, 2)})
    out = st.learning_curve_intervals(curves, reps=10, seed=0, registry=REGISTRY)
    assert list(out["method"]) == ["bc", "dbc", "zeta"]


def test_learning_curve_unequal_points_is_an_error():
    curves = _curves({("maze", "bc", 1): [0.1, 0.2], ("maze", "bc", 2): [0.3]})
    with pytest.raises(BenchError, match="maze/bc"):
        st.learning_curve_intervals(curves, reps=REPS, seed=0)
