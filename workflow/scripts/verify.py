"""The `verify` target's last step: compare the regenerated datasets and rerun runs under --rerun with
the committed ones under --committed (analysis.verify), print the report and write it as Markdown
and JSON."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.verify import verify
from dbc_bench.errors import run_stage
from dbc_bench.io import write_json_atomic, write_text_atomic


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--committed", required=True, type=Path, help="the budget's results folder (results/<budget>)")
    p.add_argument("--rerun", required=True, type=Path, help="verify's results folder (results/verify/<budget>)")
    p.add_argument("--tasks", required=True, nargs="+", help="tasks whose datasets were regenerated")
    p.add_argument("--runs", required=True, nargs="+", help="runs as <task>/<method>/seed<k>")
    p.add_argument("--reps", type=int, default=10000, help="bootstrap replications of the committed run's CI")
    p.add_argument("--seed", type=int, default=0, help="numpy seed set before the bootstrap")
    p.add_argument("--out", required=True, type=Path, help="report file (.md; the data go beside it as .json)")
    args = p.parse_args(argv)

    def stage() -> None:
        text, data = verify(args.committed, args.rerun, args.tasks, args.runs, args.reps, args.seed)
        write_json_atomic(args.out.with_suffix(".json"), data)
        write_text_atomic(args.out, text)
        print(text, flush=True)

    return run_stage(stage)


if __name__ == "__main__":
    sys.exit(main())
