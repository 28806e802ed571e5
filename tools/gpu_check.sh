#!/usr/bin/env bash
# The CUDA path on one GPU, in one go (at most 7.5 minutes after the install, the sum of the steps' time
# limits; not yet run on a GPU): install the CUDA build, run the gpu tests, time every trainer, pre-training
# and a Diffusion Policy evaluation (1000 denoising steps, 100 episodes at once) at the paper budget's sizes,
# and estimate the paper budget's hours per rule on it.
#   tools/gpu_check.sh                       writes results/benchmark/gpu_check.md (and results/benchmark/gpu/)
#   GPU_CHECK_INSTALL=0 tools/gpu_check.sh   uses .venv as it is (a machine without internet access)
# Exit status: 0 when every step passed, 1 otherwise (the report says which step failed).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=results/benchmark/gpu
REPORT=results/benchmark/gpu_check.md
if ! { command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; } \
   && ! { [ -x .venv/bin/python ] && .venv/bin/python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; }; then
  .venv/bin/python -m methods.devices 2>/dev/null
  echo "gpu_check: no CUDA device visible; nothing to check here" >&2
  exit 1
fi
if [ "${GPU_CHECK_INSTALL:-1}" = 1 ]; then
  ./setup.sh --cuda || { echo "gpu_check: ./setup.sh --cuda failed" >&2; exit 1; }
fi
PY=.venv/bin/python
DEVICES=$($PY -m methods.devices) || exit 1
echo "$DEVICES"
if ! $PY -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "gpu_check: torch sees no GPU although the machine has one (a CPU build, or a driver older than its CUDA)" >&2
  exit 1
fi
rm -rf "$OUT"  # no figure of an earlier check may pass for this one's
mkdir -p "$OUT"
FAILED=()
step() {  # step NAME SECONDS LOG COMMAND...: run it with a time limit, its output in LOG; note a failure
  local name=$1 limit=$2 log=$3
  shift 3
  timeout "$limit" "$@" > "$log" 2>&1
  local rc=$?
  if [ $rc -eq 124 ]; then FAILED+=("$name (timed out after ${limit} s; $log)")
  elif [ $rc -ne 0 ]; then FAILED+=("$name (exit $rc; $log)"); fi
  return $rc
}
# The gpu tests, the smoke DAG on CUDA included.
step "gpu tests" 180 "$OUT/pytest.log" $PY -m pytest -m gpu -q -p no:cacheprovider
TESTS=$(grep -E "passed|failed|error" "$OUT/pytest.log" | tail -n 1)
# Every offline trainer, the pre-training, evaluation and GAIL at the paper's sizes; rows land in
# benchmark.json as they are measured, so a timeout keeps the finished ones.
step "benchmark" 180 "$OUT/benchmark.log" $PY workflow/scripts/benchmark.py --device cuda --rounds 1 --seconds 1 \
  --gail-rollouts 2 --out "$OUT"
# Diffusion Policy's evaluation (fetch_pick: 50-step episodes, so a pass of 100 episodes fits the time).
step "Diffusion Policy evaluation" 60 "$OUT/diffusion_policy.log" $PY workflow/scripts/benchmark.py --device cuda \
  --rounds 1 --seconds 1 --gail-rollouts 0 --tasks fetch_pick --methods diffusion_policy --out "$OUT/diffusion_policy"
step "estimate" 30 "$OUT/paper_cost.log" $PY workflow/scripts/paper_cost.py "$OUT/benchmark.json" \
  --out "$OUT/paper_cost.md"
{
  echo "# GPU check ($(date -u +%F), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo
  echo '```'
  echo "$DEVICES"
  echo '```'
  echo
  echo "gpu tests: ${TESTS:-none ran}"
  if [ ${#FAILED[@]} -gt 0 ]; then echo; echo "**Failed steps:** ${FAILED[*]}"; fi
  echo
  [ -f "$OUT/paper_cost.md" ] && sed 's/^# /## /' "$OUT/paper_cost.md"
  echo
  echo "## Diffusion Policy evaluation on fetch_pick (1000 denoising steps per action, every episode at once)"
  echo
  $PY - "$OUT/diffusion_policy/benchmark.json" <<'PY' 2>/dev/null || echo "(not measured)"
import json, sys
rows = json.load(open(sys.argv[1]))["evaluation"]
for r in rows:
    print(f"{r['envs']} envs: {r['eval_env_steps_per_s']:.0f} env steps/s with the policy, "
          f"{r['replay_steps_per_s']:.0f} replaying its actions, {r['raw_env_steps_per_s']:.0f} raw")
PY
  echo
  [ -f "$OUT/benchmark.md" ] && sed 's/^## /### /; s/^# /## /' "$OUT/benchmark.md"
} > "$REPORT"
cat "$REPORT"
[ ${#FAILED[@]} -eq 0 ]
