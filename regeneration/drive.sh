#!/usr/bin/env bash
# Run the regeneration's remaining jobs in a scratch clone of main (its own ./setup.sh), phase by phase, each
# phase's outputs that regeneration/default/ does not hold yet:
# - a main-table method (PHASES' dbc, bc, ibc, diffusion_policy, gail): its runs on every task of TASKS, its
#   latency (measured on seed 1's model, so asked for with it), its generalisation evaluations (on the runs of
#   that task, whose models exist only in the session that trains them) and, for bc, dm_quality (which scores
#   BC's models);
# - an experiment (dm_controls, action_dm, ablation, regularization, generative_ablation, lambda_sweep): its
#   runs (pre-trainings they need come along).
# Refuses when the training code's fingerprint differs from the staged runs' (every run of one regeneration
# comes from the same code).
# Usage: regeneration/drive.sh SCRATCH    (env: CORES=2, PHASES="dbc bc ibc diffusion_policy gail dm_controls
#        action_dm ablation regularization generative_ablation lambda_sweep", TASKS: main-table tasks, default
#        all six; SNAKEMAKE_ARGS: more arguments, e.g. --nolock beside another instance on other tasks;
#        DRY=1: print each phase's targets and stop)
set -euo pipefail
SCRATCH=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PHASES=${PHASES:-dbc bc ibc diffusion_policy gail dm_controls action_dm ablation regularization generative_ablation lambda_sweep}
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
targets_of() {  # the phase's outputs not staged yet, one per line, paths under results/default/
  .venv/bin/python - "$HERE/default" "$1" "${TASKS:-}" <<'PY'
import sys
from pathlib import Path
from pipeline import plan
staged, phase, tasks = Path(sys.argv[1]), sys.argv[2], sys.argv[3].split()
p = plan.build({"budget": "default"})
root = p.results
if phase in p.config["experiments"]:
    runs = p.experiment_runs(phase)
    wanted = [f"{p.run_dir(*run)}/eval_final.csv" for run in runs]
else:
    tasks = tasks or p.tasks
    wanted = []
    for task in tasks:
        wanted += [f"{p.run_dir(task, phase, s)}/eval_final.csv" for s in p.seeds]
        wanted.append(f"{root}/latency/{task}/{phase}.json")
        if phase == "bc":
            wanted.append(f"{root}/dm_quality/{task}.json")
    if p.generalization["task"] in tasks:
        wanted += [path for path in p.generalization_evals() if f"/generalization/{phase}/" in path]
print("\n".join(dict.fromkeys(w for w in wanted if not (staged / w[len(root) + 1:]).exists())))
PY
}
for phase in $PHASES; do
  mapfile -t targets < <(targets_of "$phase" | grep -v "^$" || true)
  [ ${#targets[@]} -eq 0 ] && continue
  echo "$(date -u +%FT%T) $phase: ${#targets[@]} targets"
  if [ -n "${DRY:-}" ]; then printf '  %s\n' "${targets[@]}"; continue; fi
  # mtime only: a scratch clone pulled forward keeps its finished data and pre-training jobs (their code's
  # fingerprint may change with main; the training code's may not, checked above).
  .venv/bin/snakemake --cores "${CORES:-2}" --rerun-triggers mtime ${SNAKEMAKE_ARGS:-} -- "${targets[@]}"
done
