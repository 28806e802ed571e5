"""The `bench` target: every row of the benchmark, in order, and its two output files."""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path

import torch

import envs
from benchmarks import report, trainers
from benchmarks.evaluation import eval_row
from benchmarks.memory import peak_memory_mb
from benchmarks.online import gail_row
from dbc_bench.errors import BenchError
from dbc_bench.io import write_json_atomic, write_text_atomic
from envs.evaluation import Evaluation
from methods import registry
from methods.config import configured
from methods.core import select_device


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU, one thread"


@dataclasses.dataclass
class Options:
    out: Path
    tasks: list[str]
    methods: list[str]            # offline methods; the first one's policy runs the evaluation row
    rounds: int = 3
    seconds: float = 2.0          # each timed trainer run
    gail_rollouts: int = 4        # PPO rollouts per timed GAIL / PPO run; 0 skips the GAIL row
    tiny: bool = False            # toy sizes, minimal work: checks the code paths only
    device: str = "cpu"           # what trains, acts and evaluates: cpu, cuda, cuda:1 or auto (methods.core)

    def check(self) -> None:
        for kind, given, known in (("task", self.tasks, list(envs.TASKS)),
                                   ("offline method", self.methods, trainers.offline_methods())):
            unknown = [name for name in given if name not in known]
            if unknown:
                raise BenchError(f"unknown {kind} '{unknown[0]}'; choose from {', '.join(known)}")
        if self.rounds < 1 or self.seconds <= 0 or self.gail_rollouts < 0:
            raise BenchError("--rounds must be >= 1, --seconds > 0 and --gail-rollouts >= 0")

    def effective(self) -> "Options":
        """--tiny caps the work whatever else was asked."""
        if not self.tiny:
            return self
        return dataclasses.replace(self, rounds=1, seconds=0.05, gail_rollouts=min(self.gail_rollouts, 2))


def run(options: Options) -> dict:
    """Every row, printed as it is measured (JSON lines, for the log) and kept in `out`/benchmark.json as it
    grows (`"complete": false` until the last row), so a run cut short keeps what it measured."""
    options.check()
    opts = options.effective()
    torch.set_num_threads(1)  # one thread: rates compare across machines and with the pipeline's jobs
    device = select_device(opts.device)
    out: dict = {"options": {"tasks": opts.tasks, "methods": opts.methods, "rounds": opts.rounds,
                             "seconds": opts.seconds, "tiny": opts.tiny, "device": str(device),
                             "device_name": device_name(device)},
                 "complete": False, "trainers": [], "pretraining": [], "evaluation": [], "gail": [], "latency": [],
                 "not_configured": []}

    def record(kind: str, row: dict) -> None:
        out[kind].append(row)
        print(json.dumps(row), flush=True)
        write_json_atomic(opts.out / "benchmark.json", out)

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        for task in opts.tasks:
            for method in opts.methods:
                if not configured(trainers.CONFIG_DIR, method, task):  # the pipeline never runs it there
                    out["not_configured"].append(f"{task}: {method}")
                    continue
                su = trainers.setup(task, method, opts.tiny)
                row = trainers.trainer_row(su, opts.rounds, opts.seconds, workdir, device)
                if device.type == "cpu":  # a fresh CPU process's RSS; a GPU's memory is not measured
                    row["peak_rss_mb"] = peak_memory_mb(task, method, opts.tiny)
                record("trainers", row)
                record("latency", trainers.latency_row(su, 0.0 if opts.tiny else 0.5, workdir, device))
            if any("diffusion_model" in registry.parse(m).method.needs for m in opts.methods):
                record("pretraining", trainers.pretrain_row(task, opts.rounds, opts.seconds, workdir, device,
                                                            opts.tiny))
            su = trainers.setup(task, opts.methods[0], opts.tiny)
            # 100 episodes (the protocol's) where a GPU steps them all at once: its batch is the point
            episodes = 2 if opts.tiny else 20 if device.type == "cpu" else Evaluation.episodes
            record("evaluation", eval_row(su, episodes, 50 if opts.tiny else 3000, opts.rounds, workdir, device))
            if opts.gail_rollouts > 0:
                record("gail", gail_row(task, opts.gail_rollouts, opts.rounds, opts.tiny, str(device)))
    out["complete"] = True
    return out


def write(result: dict, out_dir: Path) -> str:
    """benchmark.md and benchmark.json under `out_dir`; returns the Markdown."""
    text = report.render(result)
    write_text_atomic(out_dir / "benchmark.md", text)
    write_json_atomic(out_dir / "benchmark.json", result)
    return text
