"""DBC against BC, per task, in two regenerations of one budget's results, beside the paper's.

For each task: how often DBC's diffusion-model term was active (the hinge above 0), DBC - BC (mean over
seeds, with a stratified-bootstrap CI) and P(DBC > BC), before and after, and the paper's DBC - BC.
Activity "before" is measured as issue 29 measured it, on the logged batches of train_log.csv (agent loss
above expert loss), since runs made before the counter have no `dm_term`; "after" is the counter over
every update (run.json `dm_term.active_fraction`), with the logged-batch share beside it for a like
for like comparison.

  git worktree add /tmp/before <commit before the regeneration>
  python tools/compare_regeneration.py --before /tmp/before/results/default --after results/default \\
      --out docs/regeneration.md
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.diffusion_model import dbc_minus_bc
from analysis.loading import load_paper_results, load_references, load_run, read_csv
from analysis.tables import display_scale, markdown_table
from dbc_bench.errors import BenchError, run_stage
from dbc_bench.io import write_text_atomic


def logged_activity(run_dir: Path) -> float:
    """Share of train_log.csv's logged batches whose hinge was above 0 (agent loss > expert loss)."""
    log = read_csv(run_dir / "train_log.csv", ["dm_agent", "dm_expert"])
    return float((log["dm_agent"] > log["dm_expert"]).mean())


def side(results: Path, task: str, reps: int, seed: int) -> dict:
    references = load_references([results / "data" / f"{task}.json"])
    runs = {m: sorted((results / "runs" / task / m).glob("seed*")) for m in ("bc", "dbc")}
    rows = {m: [load_run(d, references) for d in dirs] for m, dirs in runs.items()}
    if not rows["bc"] or not rows["dbc"]:
        raise BenchError(f"{results / 'runs' / task}: needs bc and dbc runs")
    scale = display_scale(rows["dbc"][0]["metric"])
    scores = {m: np.array([r["final_raw"] for r in sorted(rs, key=lambda r: r["seed"])]) * scale
              for m, rs in rows.items()}
    diff, low, high, p = dbc_minus_bc(scores["dbc"], scores["bc"], reps, seed)
    counted = [r["dm_active"] for r in rows["dbc"]]  # NaN for a run made before the counter
    return {"logged": float(np.mean([logged_activity(d) for d in runs["dbc"]])),
            "every": float(np.mean(counted)) if all(map(math.isfinite, counted)) else math.nan,
            "diff": diff, "low": low, "high": high, "p": p, "seeds": len(runs["dbc"])}


def percent(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.0f}%"


def compare(args: argparse.Namespace) -> None:
    paper = load_paper_results(args.paper_results)
    tasks = args.tasks or [d.name for d in sorted((args.after / "runs").iterdir())
                           if (d / "bc").is_dir() and (d / "dbc").is_dir()]
    rows = []
    for task in tasks:
        before, after = side(args.before, task, args.reps, args.seed), side(args.after, task, args.reps, args.seed)
        paper_diff = paper[("dbc", task)][0] - paper[("bc", task)][0] if ("dbc", task) in paper else math.nan
        rows.append({
            "task": task,
            "term active before (logged batches)": percent(before["logged"]),
            "after (logged batches)": percent(after["logged"]),
            "after (every update)": percent(after["every"]),
            "DBC - BC before [95% CI]": f"{before['diff']:+.1f} [{before['low']:+.1f}, {before['high']:+.1f}]",
            "P(DBC > BC) before": f"{before['p']:.2f}",
            "DBC - BC after [95% CI]": f"{after['diff']:+.1f} [{after['low']:+.1f}, {after['high']:+.1f}]",
            "P(DBC > BC) after": f"{after['p']:.2f}",
            "paper DBC - BC": f"{paper_diff:+.1f}",
        })
    text = (markdown_table(pd.DataFrame(rows)) + "\n\nSuccess in %, return raw; 3 seeds each, final policies; CIs "
            f"from {args.reps} stratified bootstrap resamples (seed {args.seed}).\n")
    if args.out:
        write_text_atomic(args.out, text)
    else:
        print(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="results/<budget> of the earlier regeneration")
    ap.add_argument("--after", type=Path, required=True, help="results/<budget> of the later one")
    ap.add_argument("--paper-results", type=Path, default=Path("config/paper_results.yaml"))
    ap.add_argument("--tasks", nargs="+", help="default: every task with BC and DBC runs in --after")
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the markdown table here (else print it)")
    args = ap.parse_args(argv)
    return run_stage(lambda: compare(args))


if __name__ == "__main__":
    sys.exit(main())
