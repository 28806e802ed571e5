"""Give the finished runs committed before run digests existed their digest.json, from the bytes git
holds for them at a commit (default HEAD), never from the working tree, so that an edit made since the
commit is caught later, not blessed now. A one-off migration, not part of the DAG:

    python tools/backfill_digests.py results/default/runs            # at HEAD
    python tools/backfill_digests.py results/default/runs --commit 189de01

A run that already has a digest, or whose files git does not hold in full, is left alone and named.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from analysis.loading import COMPLETENESS_MARKER as MARKER
from dbc_bench.errors import BenchError, run_stage
from dbc_bench.io import DIGEST_FILE, write_digest_atomic
from methods.jobs import RESULT_FILES


def committed_bytes(commit: str, path: Path) -> bytes | None:
    done = subprocess.run(["git", "show", f"{commit}:{path.as_posix()}"], capture_output=True)
    return done.stdout if done.returncode == 0 else None


def backfill(runs_root: Path, commit: str) -> None:
    if not runs_root.is_dir():
        raise BenchError(f"{runs_root}: no such folder")
    written = skipped = 0
    for marker in sorted(runs_root.rglob(MARKER)):
        run_dir = marker.parent
        if (run_dir / DIGEST_FILE).is_file():
            continue
        texts = {name: committed_bytes(commit, run_dir / name) for name in (*RESULT_FILES, MARKER)}
        missing = [name for name, text in texts.items() if text is None]
        if missing:
            print(f"{run_dir}: not backfilled ({', '.join(missing)} not in commit {commit})")
            skipped += 1
            continue
        write_digest_atomic(run_dir, (), texts)
        written += 1
    print(f"{written} digests written from commit {commit}; {skipped} runs left without one")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs_root", type=Path)
    p.add_argument("--commit", default="HEAD")
    args = p.parse_args(argv)
    return run_stage(lambda: backfill(args.runs_root, args.commit))


if __name__ == "__main__":
    sys.exit(main())
