"""The speed benchmark runs end to end at toy size (it times nothing meaningful here)."""
import dataclasses
import json

import benchmark


def test_benchmark_tiny_runs_every_path(tmp_path):
    assert benchmark.main(["--tiny", "--tasks", "maze", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "benchmark.json").read_text())
    assert [r["method"] for r in report["trainers"]] == ["bc", "dbc", "ibc", "diffusion_policy"]
    assert all(r["suite_updates_per_s"] > 0 and r["plain_updates_per_s"] > 0 and r["peak_rss_mb"] > 0
               and r["floor_updates_per_s"] > 0 for r in report["trainers"])
    # The floor adds the optimizer's work to the same matmuls, so it can never exceed their bound.
    assert all(r["floor_updates_per_s"] < r["gemm_bound_updates_per_s"] for r in report["trainers"])
    targeted = {r["method"]: r for r in report["trainers"] if "target_updates_per_s" in r}
    assert list(targeted) == ["bc", "dbc"]
    # DBC's update runs BC's and the frozen diffusion model's on top.
    assert 0 < targeted["bc"]["aten_ops_per_update"] < targeted["dbc"]["aten_ops_per_update"]
    evaluation = report["evaluation"][0]
    assert evaluation["eval_env_steps_per_s"] > 0 and evaluation["replay_steps_per_s"] > 0
    assert report["gail"][0]["gail_env_steps_per_s"] > 0 and report["gail"][0]["ppo_env_steps_per_s"] > 0
    assert all(r["latency_ms_batch10"] > 0 for r in report["latency"])
    assert [r["method"] for r in report["stacked_seeds"]] == ["bc", "dbc"]
    assert all(r["stacked_seed_updates_per_s"] > 0 for r in report["stacked_seeds"])
    text = (tmp_path / "benchmark.md").read_text()
    assert "Training updates per second" in text and "GAIL vs stable-baselines3 PPO" in text
    assert "BC and DBC against the speed target" in text


def test_update_flops_hand_counted():
    bc = benchmark.setup("maze", "bc", tiny=False)
    bc = dataclasses.replace(bc, cfg=dataclasses.replace(bc.cfg, hidden=[256], batch_size=128))
    assert benchmark.update_flops(bc) == 3 * 2 * 128 * (6 * 256 + 256 * 2)
    # per layer: forward [B x in] @ [in x out], weight gradient [in x B] @ [B x out], input gradient
    assert benchmark.update_gemms(bc) == [(128, 6, 256), (6, 128, 256), (128, 256, 6),
                                          (128, 256, 2), (256, 128, 2), (128, 2, 256)]
    dbc = benchmark.setup("maze", "dbc", tiny=False)
    dbc = dataclasses.replace(dbc, cfg=dataclasses.replace(dbc.cfg, hidden=[256], batch_size=128))
    assert benchmark.update_flops(dbc) > benchmark.update_flops(bc)
    ibc = benchmark.setup("maze", "ibc", tiny=False)
    ibc = dataclasses.replace(ibc, cfg=dataclasses.replace(ibc.cfg, hidden=[8], batch_size=4, counter_examples=3))
    # the state half once per state (4 x 6 x 8), the action half and the output per candidate (16 rows)
    assert benchmark.update_flops(ibc) == 3 * 2 * (4 * 6 * 8 + 16 * 2 * 8 + 16 * 8 * 1)


def test_dag_time_breakdown_per_rule_and_method(tmp_path, capsys):
    import dag_time

    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rel, wall, cpu in (("train/maze/bc/seed1.tsv", 100, 90), ("train/walker/bc/seed1.tsv", 50, 45),
                           ("train/maze/dbc/seed1.tsv", 200, 190), ("report.tsv", 10, 5)):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{wall}\t0:00:00\t300\t0\t0\t0\t0\t0\t0\t{cpu}\n")
    assert dag_time.main([str(tmp_path), "--cores", "2"]) == 0
    out = capsys.readouterr().out
    assert "| train: bc | 2 | 150 | 75 | 100 | 135 | 300 |" in out
    assert "| train: dbc | 1 | 200 |" in out and "| report | 1 | 10 |" in out
    assert "4 jobs; job wall time 6.0 min in all, 3.0 min at 2 jobs side by side" in out
