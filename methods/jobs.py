"""The pipeline's jobs that run methods: train one run, evaluate or time a finished run (DBC's
diffusion-model pre-training is methods.diffusion.pretrain). The scripts in workflow/scripts/ only
parse arguments and call these.

Hyperparameters arrive resolved (methods.config, called by the Snakefile) and are recorded in
run.json; inputs from earlier stages (DBC's diffusion model) arrive as named paths that the
method's registry entry declares in `needs`.
"""
from __future__ import annotations

import dataclasses
import json
import platform
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import torch

import envs
from dbc_bench import kernels, provenance, seeds, tracking
from dbc_bench.errors import BenchError
from dbc_bench.fields import from_values
from dbc_bench.io import (
    load_checkpoint,
    load_state_checked,
    read_json,
    require_keys,
    save_torch_atomic,
    sha256_file,
    to_csv,
    write_digest_atomic,
    write_json_atomic,
    write_text_atomic,
)
from envs.evaluation import EPISODE_COLUMNS, Evaluation, Evaluator, latency_per_call
from envs.shipped import file_hashes
from methods import registry
from methods.core import (
    Normalizer,
    agent_policy,
    load_demonstrations,
    seed_everything,
    select_device,
    set_threads,
    synchronize,
)
from methods.train import fit, run_training

# The result files a finished run's digest covers (model.pt is not committed, so not checked).
RESULT_FILES = ("run.json", "train_log.csv", "eval_curve.csv", "timing.json")
SELECTION_RULE = "headline = final policy (eval_final.csv); best-during-training is reported separately"




def check_inputs(run: registry.RunSpec, inputs: dict[str, str]) -> None:
    missing = sorted(set(run.method.needs) - set(inputs))
    extra = sorted(set(inputs) - set(run.method.needs))
    if missing or extra:
        raise BenchError(f"method '{run.name}' needs inputs {list(run.method.needs)}; got {sorted(inputs)}")


def train(task_name: str, run_name: str, seed: int, hyperparameters: dict, dataset: Path, run_dir: Path,
          inputs: dict[str, str], evaluation: Evaluation, budget: str = "", threads: int = 1,
          device: str = "auto", checkpoint_seconds: float = 120.0, code: str = "") -> None:
    """Train one run and write run.json (resolved config and provenance), train_log.csv,
    eval_curve.csv (evaluations during training), timing.json, model.pt, digest.json (the result files'
    sha256) and, last, eval_final.csv (the headline: the final policy's episodes), whose presence marks a
    finished run."""
    wall_start = time.perf_counter()
    task = envs.get_task(task_name)
    run = registry.parse(run_name)
    tracker = tracking.selected()
    cfg = from_values(run.method.config, hyperparameters, f"resolved hyperparameters of '{run_name}'")
    check_inputs(run, inputs)

    set_threads(threads)
    torch_device = select_device(device)
    seed_everything(seed)
    data = load_demonstrations(dataset, task.obs_dim, task.act_dim,
                               normalize=getattr(cfg, "normalize", True)).to(torch_device)
    if not run.method.online:
        context = {**inputs, "obs_norm": data.obs_norm, "act_norm": data.act_norm,
                   "action_low": data.act.min(0).values, "action_high": data.act.max(0).values}
        agent = run.method.build(cfg, task.obs_dim, task.act_dim, context).to(torch_device)

    run_dir.mkdir(parents=True, exist_ok=True)
    episode_seeds = seeds.eval_seeds(evaluation.episodes)
    evaluator = Evaluator(task_name, evaluation.envs_on(torch_device), evaluation.env_kwargs)
    box = evaluator.pool[0].action_space
    eval_seconds = [0.0]

    def evaluate(trained) -> list[dict]:
        start = time.perf_counter()
        policy = agent_policy(trained, data.obs_norm, data.act_norm, box.low, box.high, torch_device)
        rows = evaluator.run(policy, episode_seeds)
        eval_seconds[0] += time.perf_counter() - start
        print(f"evaluation: success {np.mean([r['success'] for r in rows]):.3f}  "
              f"return {np.mean([r['return'] for r in rows]):.1f}", flush=True)
        return rows

    run_info = {
        "task": task_name, "method": run_name, "seed": seed, "budget": budget,
        "config": dataclasses.asdict(cfg), "inputs": inputs, "dataset": str(dataset), "code": code,
        "dataset_sha256": file_hashes(Path(dataset)),
        "inputs_sha256": {name: sha256_file(path) for name, path in inputs.items()},
        "transitions": len(data), "demo_episodes": data.n_episodes, "eval_episodes": evaluation.episodes,
        "eval_env_kwargs": evaluation.env_kwargs, "eval_seed_first": episode_seeds[0],
        "device": str(torch_device), "threads": threads, "torch": torch.__version__,
        "python": platform.python_version(), "selection_rule": SELECTION_RULE, "kernels": kernels.settings(),
        "provenance": provenance.record(),
    }
    print(f"{run_name} on {task_name}, seed {seed}, budget {budget}: {len(data)} transitions, "
          f"{cfg.describe_length(len(data))} on {torch_device} ({threads} threads)", flush=True)

    state_path = run_dir / "state.pt"
    # What decides a run's bits identifies its saved state: config, data, the inputs' bytes, the code's
    # fingerprint, the kernels and the thread count (torch splits sums by thread), so a state saved
    # under other ones is not resumed. Provenance (commit, versions, CPU name) does not decide them,
    # and a run may move between CPU and GPU (as on a cluster); its numbers then differ anyway.
    fingerprint = json.dumps({k: v for k, v in run_info.items() if k not in ("device", "provenance")},
                             sort_keys=True)
    live = tracking.Live(run_dir) if tracker == "tensorboard" else None  # events while it trains
    try:
        if run.method.online:  # learns from its own environment interaction; result.updates counts env steps
            trainer = run.method.trainer(cfg, task_name, data, seed=seed, device=torch_device,
                                         log=lambda line: print(line, flush=True))
            agent, result = trainer.agent, run_training(
                trainer, evaluate=evaluate, eval_points=evaluation.points, state_path=state_path,
                fingerprint=fingerprint, checkpoint_seconds=checkpoint_seconds, observe=live)
        else:
            result = fit(agent, data, cfg, evaluate=evaluate, eval_points=evaluation.points, state_path=state_path,
                         fingerprint=fingerprint, checkpoint_seconds=checkpoint_seconds, observe=live)
    finally:
        if live is not None:
            live.close()
    evaluator.close()
    final_update = max(r["update"] for r in result.curve)
    final_rows = [{k: r[k] for k in EPISODE_COLUMNS} for r in result.curve if r["update"] == final_update]

    # What a method measured over its training (DBC: how often its diffusion-model term acted).
    run_info.update(getattr(agent, "training_record", dict)())
    save_torch_atomic({"agent": agent.state_dict(), "obs_norm": data.obs_norm.state_dict(),
                       "act_norm": data.act_norm.state_dict(), "method": run_name, "task": task_name,
                       "config": dataclasses.asdict(cfg)}, run_dir / "model.pt")
    write_text_atomic(run_dir / "train_log.csv", to_csv(result.log))
    write_text_atomic(run_dir / "eval_curve.csv", to_csv(result.curve, ["update"] + EPISODE_COLUMNS))
    write_json_atomic(run_dir / "run.json", run_info)
    write_json_atomic(run_dir / "timing.json", {
        "updates": result.updates, "train_seconds": result.train_seconds,
        "updates_per_second": result.updates_per_second, "eval_seconds": eval_seconds[0],
        "wall_seconds": time.perf_counter() - wall_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    })
    if tracker == "tensorboard":  # before the completeness marker, so a finished run has its mirror
        tracking.mirror(run_dir)
    final_csv = to_csv(final_rows, EPISODE_COLUMNS)
    write_digest_atomic(run_dir, RESULT_FILES, {"eval_final.csv": final_csv})
    write_text_atomic(run_dir / "eval_final.csv", final_csv)
    state_path.unlink(missing_ok=True)
    final = np.mean([r["success"] for r in final_rows]), np.mean([r["return"] for r in final_rows])
    print(f"final: success {final[0]:.3f}  return {final[1]:.1f}; "
          f"{result.updates_per_second:.0f} updates/s over {result.train_seconds:.1f} s of training, "
          f"{eval_seconds[0]:.1f} s of evaluation", flush=True)


def load_policy(run_dir: Path, device: torch.device):
    """A finished run's agent and normalisers, rebuilt from its own record (run.json, model.pt)."""
    if not (run_dir / "eval_final.csv").is_file():
        raise BenchError(f"{run_dir}: not a finished run (no eval_final.csv)")
    info = read_json(run_dir / "run.json")
    ckpt = load_checkpoint(run_dir / "model.pt")
    require_keys(ckpt, ("agent", "obs_norm", "act_norm"), run_dir / "model.pt", "a policy checkpoint")
    task = envs.get_task(info["task"])
    run = registry.parse(info["method"])
    cfg = from_values(run.method.config, info["config"], f"{run_dir / 'run.json'}: config")
    obs_norm, act_norm = Normalizer.empty(task.obs_dim), Normalizer.empty(task.act_dim)
    load_state_checked(obs_norm, ckpt["obs_norm"], str(run_dir / "model.pt"))
    load_state_checked(act_norm, ckpt["act_norm"], str(run_dir / "model.pt"))
    # Runs written before inputs had their own field recorded them as "context".
    inputs = info.get("inputs", info.get("context", {}))
    agent = run.method.build(cfg, task.obs_dim, task.act_dim, {**inputs, "obs_norm": obs_norm, "act_norm": act_norm})
    load_state_checked(agent, ckpt["agent"], str(run_dir / "model.pt"))
    return info, agent.to(device).eval(), obs_norm.to(device), act_norm.to(device)


def evaluate_run(run_dir: Path, out: Path, evaluation: Evaluation, threads: int = 1, device: str = "auto") -> None:
    """Evaluate a finished run's final policy under other conditions (e.g. FetchPick noise ratios)."""
    set_threads(threads)
    torch_device = select_device(device)
    info, agent, obs_norm, act_norm = load_policy(run_dir, torch_device)
    episode_seeds = seeds.eval_seeds(evaluation.episodes)
    evaluator = Evaluator(info["task"], evaluation.envs_on(torch_device), evaluation.env_kwargs)
    box = evaluator.pool[0].action_space
    rows = evaluator.run(agent_policy(agent, obs_norm, act_norm, box.low, box.high, torch_device), episode_seeds)
    evaluator.close()
    write_text_atomic(out, to_csv(rows, EPISODE_COLUMNS))
    print(f"{info['method']} on {info['task']} seed {info['seed']} with {evaluation.env_kwargs}: success "
          f"{sum(r['success'] for r in rows) / len(rows):.3f}", flush=True)


def record_videos(run_dir: Path, out_dir: Path, episodes: int, env_kwargs: dict, threads: int = 1,
                  device: str = "auto") -> None:
    """The final policy's first `episodes` evaluation episodes (the evaluation's own seeds) as MP4 files,
    `episode-<k>.mp4`, with `episodes.json` (seed, success, return, length of each), via gymnasium's
    RecordVideo; written beside `out_dir` and renamed into place. Headless MuJoCo rendering needs an
    OpenGL backend: MUJOCO_GL=osmesa (libosmesa6) on a CPU machine, egl with a GPU."""
    from gymnasium.wrappers import RecordVideo

    if episodes < 1:
        raise BenchError(f"videos: record at least one episode, got {episodes}")
    set_threads(threads)
    torch_device = select_device(device)
    info, agent, obs_norm, act_norm = load_policy(run_dir, torch_device)
    staging = out_dir.parent / f".staging-{out_dir.name}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        env = RecordVideo(envs.get_task(info["task"]).make(render_mode="rgb_array", **env_kwargs), str(staging),
                          episode_trigger=lambda _: True, name_prefix="", disable_logger=True)
    except Exception as exc:  # gymnasium's missing-dependency and renderer errors
        raise BenchError(f"videos: cannot record {info['task']} ({type(exc).__name__}: {exc}); headless "
                         f"rendering needs MUJOCO_GL=osmesa and libosmesa6, and moviepy") from exc
    box = env.action_space
    policy = agent_policy(agent, obs_norm, act_norm, box.low, box.high, torch_device)
    try:  # the evaluation's own episode loop, on the one recording env: its episodes in seed order
        rows = [{**row, "video": f"episode-{row['episode']}.mp4"}
                for row in Evaluator(info["task"], pool=[env]).run(policy, seeds.eval_seeds(episodes))]
    except Exception as exc:
        raise BenchError(f"videos: rendering {info['task']} failed ({type(exc).__name__}: {exc}); headless "
                         f"rendering needs MUJOCO_GL=osmesa and libosmesa6") from exc
    finally:
        env.close()  # writes the last episode's file
    for row in rows:  # RecordVideo names them "-episode-<k>.mp4" with an empty prefix
        (staging / f"-episode-{row['episode']}.mp4").rename(staging / row["video"])
    write_json_atomic(staging / "episodes.json", {"task": info["task"], "method": info["method"],
                                                  "seed": info["seed"], "episodes": rows})
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    print(f"{info['method']} on {info['task']} seed {info['seed']}: {len(rows)} videos in {out_dir}", flush=True)


def measure_latency(run_dir: Path, out: Path, num_envs: int, env_kwargs: dict, threads: int = 1,
                    device: str = "auto") -> None:
    """Inference latency per action of a finished run's policy: one env, and the evaluation batch."""
    set_threads(threads)
    torch_device = select_device(device)
    info, agent, obs_norm, act_norm = load_policy(run_dir, torch_device)
    evaluator = Evaluator(info["task"], num_envs, env_kwargs)
    obs = np.stack([env.reset(seed=s)[0] for env, s in zip(evaluator.pool, seeds.eval_seeds(num_envs))])
    obs = obs.astype(np.float32)
    box = evaluator.pool[0].action_space
    evaluator.close()
    policy = agent_policy(agent, obs_norm, act_norm, box.low, box.high, torch_device)
    result = {"task": info["task"], "method": info["method"], "seed": info["seed"], "device": str(torch_device),
              "threads": threads, "batch": num_envs}
    for name, batch in (("latency_ms_batch1", obs[:1]), ("latency_ms_batched", obs)):
        result[name] = 1e3 * latency_per_call(lambda: policy(batch), repeats=5, warmup=2, min_seconds=1.0,
                                               sync=lambda: synchronize(torch_device))
    write_json_atomic(out, result)
    print(result, flush=True)
