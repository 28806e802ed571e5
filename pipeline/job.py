"""What a job needs from the config beyond its own arguments, given on its command line.

A config can register tasks (`task_definitions`) and methods (`method_modules`) that the suite's code
does not hold. The Snakefile registers them in its own process (pipeline.plan); a job is a process of its
own, so it gets them as `--task-definitions` and `--method-modules`, and its log's command line alone
replays it.
"""
from __future__ import annotations

import argparse
import json
import shlex

import envs
from dbc_bench.errors import run_stage
from methods import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task-definitions", type=json.loads, default={},
                        help="JSON: tasks defined in config (config 'task_definitions') the job runs")
    parser.add_argument("--method-modules", default="",
                        help="comma-separated method modules from outside the suite (config 'method_modules')")


def apply(args: argparse.Namespace) -> None:
    """Register what the arguments name, before the job looks up its task or method."""
    if args.task_definitions:
        envs.define_tasks(args.task_definitions)
    if args.method_modules:
        registry.use_modules(args.method_modules.split(","))


def arguments(task_definitions: dict, method_modules: list[str]) -> str:
    """The shell words for `add_arguments`' options (empty where the config registers nothing)."""
    words = []
    if task_definitions:
        words.append(f"--task-definitions {shlex.quote(json.dumps(task_definitions, sort_keys=True))}")
    if method_modules:
        words.append(f"--method-modules {shlex.quote(','.join(method_modules))}")
    return " ".join(words)


def run(args: argparse.Namespace, stage) -> int:
    """`run_stage(stage)` once what the arguments name is registered (a problem there is one line, too)."""
    def registered_then_stage():
        apply(args)
        return stage()

    return run_stage(registered_then_stage)
