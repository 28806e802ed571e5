"""The speed benchmark (`bench` target, benchmarks/), its research tool (tools/speed_floor.py) and the
DAG time breakdown. Nothing here asserts a speed: the machine decides those."""
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import plain, report, trainers
from benchmarks.timing import alternating_medians, calibrate
from workflow.scripts import benchmark

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_tiny_end_to_end(tmp_path):
    assert benchmark.main(["--tiny", "--tasks", "maze", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "benchmark.json").read_text())
    methods = trainers.offline_methods()
    assert {"bc", "dbc", "ibc", "diffusion_policy"} <= set(methods) and "gail" not in methods
    assert [r["method"] for r in result["trainers"]] == methods
    positive = lambda x: isinstance(x, float) and math.isfinite(x) and x > 0
    for row in result["trainers"]:
        keys = ["suite_updates_per_s", "peak_rss_mb"]
        keys += ["plain_updates_per_s", "speedup"] if row["method"] in plain.LOOPS else []
        assert all(positive(row[k]) for k in keys), row
    assert [r["method"] for r in result["latency"]] == methods
    assert all(positive(r["latency_ms_batch1"]) and positive(r["latency_ms_batch10"]) for r in result["latency"])
    (evaluation,) = result["evaluation"]
    assert all(positive(evaluation[k]) for k in ("raw_env_steps_per_s", "replay_steps_per_s", "eval_env_steps_per_s"))
    assert evaluation["envs"] == 2  # the CPU's batch of 10, capped by the tiny run's 2 episodes
    assert "latency_ms_batch100" not in result["latency"][0]  # the CPU never calls a policy on 100 states
    (pretraining,) = result["pretraining"]
    assert pretraining["task"] == "maze" and positive(pretraining["updates_per_s"])
    (gail,) = result["gail"]
    assert positive(gail["gail_env_steps_per_s"]) and positive(gail["ppo_env_steps_per_s"])
    assert result["complete"] is True and result["options"]["device"] == "cpu"
    # The Markdown has one training row per trainer, with a number in every rate cell.
    text = (tmp_path / "benchmark.md").read_text()
    training = text.split("## Training updates per second")[1].split("##")[0]
    for method in methods:
        (line,) = [row for row in training.splitlines() if row.startswith(f"| maze | {method} |")]
        suite_cell = line.split("|")[4].strip()
        assert positive(float(suite_cell)), line
    assert "## GAIL vs stable-baselines3 PPO alone" in text


@pytest.mark.parametrize("args, message", [
    (["--methods", "gail"], "unknown offline method 'gail'; choose from bc, dbc"),
    (["--tasks", "moon"], "unknown task 'moon'; choose from maze"),
    (["--rounds", "0"], "--rounds must be >= 1"),
])
def test_benchmark_rejects_bad_arguments_in_one_line(tmp_path, capsys, args, message):
    assert benchmark.main(["--tiny", "--out", str(tmp_path), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_alternating_medians_interleave_the_variants():
    calls = []

    def variant(name, values):
        values = iter(values)
        return lambda: calls.append(name) or next(values)

    medians = alternating_medians(3, variant("a", [3.0, 1.0, 2.0]), variant("b", [10.0, 30.0, 20.0]))
    assert calls == ["a", "b"] * 3
    assert medians == [2.0, 20.0]


def test_calibrate_aims_at_the_duration_from_a_long_enough_probe():
    probes = []

    def rate(updates):  # 1000 updates/s, whatever the run length
        probes.append(updates)
        return 1000.0

    assert calibrate(rate, seconds=2.0) == 2000
    # Doubled until a probe lasts a fifth of the target (0.4 s = 400 updates), not beyond.
    assert probes == [5, 10, 20, 40, 80, 160, 320, 640]
    assert calibrate(lambda n: 1.0, seconds=2.0) == 10  # never fewer than the minimum


def test_plain_loop_imports_nothing_of_the_suite():
    code = ("import sys, benchmarks.plain; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('methods', 'envs', 'dbc_bench')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("method", sorted(plain.LOOPS))
def test_plain_loop_trains_the_suites_network(method, tmp_path):
    """Same trainable parameters as the suite's agent, and a loss whose gradient reaches all of them."""
    su = trainers.setup("maze", method, tiny=True)
    data = trainers.random_demos(su.obs_dim, su.act_dim, 64)
    agent = trainers.build_agent(su, data, tmp_path)
    suite_shapes = sorted(tuple(p.shape) for p in agent.parameters() if p.requires_grad)
    net, loss_fn = plain.LOOPS[method](trainers.plain_sizes(su))
    assert sorted(tuple(p.shape) for p in net.parameters()) == suite_shapes
    loss = loss_fn(data.obs[:su.batch], data.act[:su.batch])
    loss.backward()
    assert math.isfinite(loss.item())
    assert all(p.grad is not None for p in net.parameters())


def test_plain_schedules_match_the_suites():
    from diffusers import DDPMScheduler

    from methods.diffusion import NoiseSchedule

    cosine = DDPMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2").alphas_cumprod
    torch.testing.assert_close(plain.cosine_alpha_bar(100), cosine.float())
    sigmoid = NoiseSchedule(1000, 1e-4, 0.02).sqrt_alpha_bar ** 2
    torch.testing.assert_close(plain.sigmoid_alpha_bar(1000), sigmoid)


def test_report_cells():
    assert [report.rate(x) for x in (680.4, 61.43, 2.345, 0.4981)] == ["680", "61.4", "2.35", "0.498"]
    assert report.cell(None, "rate") == report.cell(float("nan"), ".2f") == "-"
    assert report.cell(True, "") == "yes" and report.cell(3, "") == "3"
    assert report.table([{"a": 1.5}], [("A", "a", ".1f"), ("B", "b", "")]) == "| A | B |\n|---|---|\n| 1.5 | - |"


def _speed_floor():
    spec = importlib.util.spec_from_file_location("speed_floor", ROOT / "tools" / "speed_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_floor_matmul_shapes_hand_counted():
    import dataclasses

    floor = _speed_floor()
    flops = lambda su: sum(2 * m * k * n for m, k, n in floor.update_gemms(su))
    bc = trainers.setup("maze", "bc")
    bc = dataclasses.replace(bc, cfg=dataclasses.replace(bc.cfg, hidden=[256], batch_size=128))
    # per layer: forward [B x in] @ [in x out], weight gradient [in x B] @ [B x out], input gradient
    assert floor.update_gemms(bc) == [(128, 6, 256), (6, 128, 256), (128, 256, 6),
                                      (128, 256, 2), (256, 128, 2), (128, 2, 256)]
    dbc = trainers.setup("maze", "dbc")
    dbc = dataclasses.replace(dbc, cfg=dataclasses.replace(dbc.cfg, hidden=[256], batch_size=128))
    w = dbc.needs["diffusion_model"].width
    # the frozen model: forward on agent and expert pairs, input gradient on the agent pairs only
    assert flops(dbc) - flops(bc) == 3 * 2 * 128 * (8 * w + w * w + w * w + w * 8)
    ibc = trainers.setup("maze", "ibc")
    ibc = dataclasses.replace(ibc, cfg=dataclasses.replace(ibc.cfg, hidden=[8], batch_size=4, counter_examples=3))
    # the state half once per state (4 x 6 x 8), the action half and the output per candidate (16 rows)
    assert flops(ibc) == 3 * 2 * (4 * 6 * 8 + 16 * 2 * 8 + 16 * 8 * 1)


def test_dag_time_breakdown_per_rule_and_method(tmp_path, capsys):
    from workflow.scripts import dag_time

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
    # `all`'s jobs only: some tasks and methods, the report (no task) kept
    assert dag_time.main([str(tmp_path), "--tasks", "maze", "--methods", "bc,gail", "--rules", "train,report"]) == 0
    out = capsys.readouterr().out
    assert "| train: bc | 1 | 100 |" in out and "train: dbc" not in out and "2 jobs; job wall time 1.8 min" in out
    assert dag_time.main([str(tmp_path), "--rules", "pretrain_dm"]) == 1


@pytest.mark.parametrize("algorithm", ["ppo", "sac"])
def test_expert_algorithms_tiny_budget(tmp_path, capsys, algorithm):
    """The PPO-vs-SAC measurement runs end to end on a tiny CPU budget and writes its rows."""
    from benchmarks import expert_algorithms

    out = tmp_path / f"{algorithm}.csv"
    assert expert_algorithms.main(["--algorithm", algorithm, "--cpu-minutes", "0.01", "--every", "0.01",
                                   "--episodes", "1", "--out", str(out)]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["algorithm"] == algorithm and row["env_steps"] > 0 and math.isfinite(row["return_mean"])
    assert out.read_text().splitlines()[0].startswith("algorithm,cpu_minutes")


def test_expert_algorithms_refuses_a_success_task(capsys):
    from benchmarks import expert_algorithms

    assert expert_algorithms.main(["--algorithm", "ppo", "--task", "ant_reach"]) != 0
    assert "--task 'ant_reach': this benchmark compares returns" in capsys.readouterr().err


def _synthetic_bench(device: str) -> dict:
    """A benchmark.json's rows for maze, with round rates, for hand-counted estimates."""
    return {"options": {"device": device},
            "trainers": [{"task": "maze", "method": "bc", "suite_updates_per_s": 100.0},
                         {"task": "maze", "method": "dbc", "suite_updates_per_s": 50.0}],
            "latency": [{"task": "maze", "method": m, "latency_ms_batch1": 1.0, "latency_ms_batch10": 2.0,
                         "latency_ms_batch100": 4.0} for m in ("bc", "dbc")],
            "pretraining": [{"task": "maze", "updates_per_s": 200.0}],
            "evaluation": [{"task": "maze", "raw_env_steps_per_s": 1000.0}],
            "gail": [{"task": "maze", "gail_env_steps_per_s": 500.0}]}


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_paper_cost_estimate_is_hand_counted(tmp_path, device):
    from benchmarks.estimate import estimate
    from methods.config import resolve, resolve_stage

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "maze.json").write_text(json.dumps({"transitions": 1000}))
    for method in ("bc", "dbc", "gail"):
        run = tmp_path / "runs" / "maze" / method / "seed1"
        run.mkdir(parents=True)
        (run / "eval_final.csv").write_text("episode,length\n0,100\n1,200\n")
    est = estimate(_synthetic_bench(device), ["maze"], ["bc", "dbc", "gail"], 3, "paper", tmp_path)
    rows = {r["method"]: r for r in est.rows}
    assert not est.missing
    # the paper budget: 10 evaluations of 100 episodes; episodes of 150 steps on average, the longest 200
    steps_s = 100 * 150 / 1000.0
    calls_s = 100 * 150 / 10 * 2.0e-3 if device == "cpu" else 200 * 4.0e-3
    for method, rate in (("bc", 100.0), ("dbc", 50.0)):
        cfg = resolve(trainers.CONFIG_DIR, "paper", method, "maze")
        updates = cfg.epochs * math.ceil(1000 / cfg.batch_size)
        assert rows[method]["updates"] == updates
        assert rows[method]["hours_per_run"] * 3600 == pytest.approx(updates / rate + 10 * (steps_s + calls_s))
    gail = resolve(trainers.CONFIG_DIR, "paper", "gail", "maze")
    assert rows["gail"]["train_hours"] * 3600 == pytest.approx(gail.env_steps / 500.0)
    dm = resolve_stage(trainers.CONFIG_DIR, "paper", "diffusion_model", "maze")
    dm_updates = dm.epochs * math.ceil(round(1000 * (1 - dm.holdout_fraction)) / dm.batch_size)
    assert est.per_rule()["pretrain_dm"] * 3600 == pytest.approx(dm_updates / 200.0)
    assert est.per_rule()["train: bc"] == pytest.approx(3 * rows["bc"]["hours_per_run"])


def test_the_paper_cost_estimate_names_what_was_not_measured(tmp_path):
    from benchmarks.estimate import estimate

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "maze.json").write_text(json.dumps({"transitions": 1000}))
    bench = _synthetic_bench("cpu")
    bench["trainers"] = bench["trainers"][:1]  # no dbc rate
    bench["pretraining"] = []
    est = estimate(bench, ["maze"], ["bc", "dbc"], 3, "paper", tmp_path)
    assert [r["method"] for r in est.rows] == ["bc"]
    assert est.missing == ["maze: diffusion-model pre-training", "maze: dbc"]


@pytest.mark.slow
def test_the_benchmark_skips_a_method_the_task_does_not_configure(tmp_path):
    # dbc_action_dm is configured for its experiment's tasks only; the bench target once failed on hand_rotate
    assert benchmark.main(["--tiny", "--tasks", "hand_rotate", "--methods", "bc", "dbc_action_dm",
                           "--gail-rollouts", "0", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "benchmark.json").read_text())
    assert [r["method"] for r in result["trainers"]] == ["bc"]
    assert result["not_configured"] == ["hand_rotate: dbc_action_dm"]
    assert "Not benchmarked (no config for the task" in (tmp_path / "benchmark.md").read_text()
