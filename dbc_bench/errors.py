"""One user-facing error type and one exit convention for every stage of the pipeline."""
from __future__ import annotations

import sys
from typing import Callable


class BenchError(Exception):
    """A user-facing error: the message names the file, field or path at fault."""


def run_stage(stage: Callable[[], object]) -> int:
    """Run a stage's body: a BenchError becomes one line `error: ...` on stderr and exit status 1;
    anything else is a bug and keeps its traceback. A process whose numerical libraries loaded before
    the kernel pin restarts itself first (dbc_bench.kernels)."""
    from dbc_bench import checkout, kernels

    checkout.check()  # the modules imported since dbc_bench was
    kernels.ensure_effective()
    try:
        stage()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
