"""The speed benchmark runs end to end at toy size (it times nothing meaningful here)."""
import json

import benchmark


def test_benchmark_tiny_runs_every_path(tmp_path):
    assert benchmark.main(["--tiny", "--tasks", "maze", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "benchmark.json").read_text())
    assert {r["method"] for r in report["trainers"]} == {"bc", "dbc"}
    assert all(r["suite_updates_per_s"] > 0 and r["plain_updates_per_s"] > 0 and r["peak_rss_mb"] > 0
               for r in report["trainers"])
    assert report["evaluation"][0]["eval_env_steps_per_s"] > 0
    assert "Training updates per second" in (tmp_path / "benchmark.md").read_text()


def test_update_flops_counts_dbc_extra_work():
    bc_flops = benchmark.update_flops("bc", 6, 2, [256], 128)
    assert bc_flops == 3 * 2 * 128 * (6 * 256 + 256 * 2)
    assert benchmark.update_flops("dbc", 6, 2, [256], 128) > bc_flops
