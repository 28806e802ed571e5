#!/usr/bin/env bash
# Run the regeneration's remaining main-table jobs in a scratch clone of main (its own ./setup.sh): for each
# method of METHODS, in order, its runs on every task that regeneration/default/ does not hold yet, and its
# latency (measured on seed 1's model, so asked for with it). Refuses when the training code's fingerprint
# differs from the staged runs' (every run of one regeneration comes from the same code).
# Usage: regeneration/drive.sh SCRATCH    (env: CORES=2, METHODS="dbc bc ibc diffusion_policy gail", TASKS=all six,
#        SNAKEMAKE_ARGS: more arguments, e.g. --nolock beside another instance on other tasks)
set -euo pipefail
SCRATCH=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
TASKS=${TASKS:-maze fetch_pick hand_rotate walker cheetah ant_reach}
cd "$SCRATCH"
.venv/bin/python - "$HERE/default" <<'PY'
import json, sys
from pathlib import Path
from pipeline.plan import method_code
stale = []
for info in Path(sys.argv[1]).glob("runs/*/*/seed*/run.json"):
    run = json.loads(info.read_text())
    if run["code"] != method_code("train_policy.py", run["method"], run["task"]):
        stale.append(f"{run['task']}/{run['method']}/seed{run['seed']}")
if stale:
    sys.exit(f"drive.sh: the training code changed since these staged runs: {', '.join(sorted(stale)[:5])} ...")
PY
for method in ${METHODS:-dbc bc ibc diffusion_policy gail}; do
  targets=()
  for task in $TASKS; do
    for seed in 1 2 3; do
      run="runs/$task/$method/seed$seed/eval_final.csv"
      [ -f "$HERE/default/$run" ] || targets+=("results/default/$run")
    done
    [ -f "$HERE/default/latency/$task/$method.json" ] || targets+=("results/default/latency/$task/$method.json")
  done
  [ ${#targets[@]} -eq 0 ] && continue
  echo "$(date -u +%FT%T) $method: ${#targets[@]} targets"
  # mtime only: a scratch clone pulled forward keeps its finished data and pre-training jobs (their code's
  # fingerprint may change with main; the training code's may not, checked above).
  .venv/bin/snakemake --cores "${CORES:-2}" --rerun-triggers mtime ${SNAKEMAKE_ARGS:-} "${targets[@]}"
done
