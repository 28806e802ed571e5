#!/usr/bin/env bash
# The CUDA path on one GPU, in one go (about 8 minutes): install the CUDA build, run the gpu tests, time every
# trainer, pre-training and a Diffusion Policy evaluation (1000 denoising steps, 100 episodes at once) at the
# paper budget's sizes, and estimate the paper budget's hours per rule on this GPU.
#   tools/gpu_check.sh                 writes results/benchmark/gpu_check.md (and results/benchmark/gpu/)
#   GPU_CHECK_INSTALL=0 tools/gpu_check.sh   uses .venv as it is (a machine without internet access)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=results/benchmark/gpu
REPORT=results/benchmark/gpu_check.md
if [ "${GPU_CHECK_INSTALL:-1}" = 1 ]; then
  ./setup.sh --cuda || { echo "gpu_check: ./setup.sh --cuda failed" >&2; exit 1; }
fi
PY=.venv/bin/python
DEVICES=$($PY -m methods.devices) || exit 1
echo "$DEVICES"
if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: no CUDA device visible; nothing to check here" >&2
  exit 1
fi
mkdir -p "$OUT"
# The gpu tests, the smoke DAG on CUDA included.
timeout 300 $PY -m pytest -m gpu -q -p no:cacheprovider 2>&1 | tee "$OUT/pytest.log"
TESTS=$(tail -n 1 "$OUT/pytest.log")
# Every offline trainer and the pre-training at the paper's sizes; then Diffusion Policy's evaluation row.
timeout 240 $PY workflow/scripts/benchmark.py --device cuda --rounds 1 --seconds 1 --gail-rollouts 2 \
  --out "$OUT" > "$OUT/benchmark.log" 2>&1 || echo "gpu_check: the benchmark failed, see $OUT/benchmark.log" >&2
timeout 120 $PY workflow/scripts/benchmark.py --device cuda --rounds 1 --seconds 1 --gail-rollouts 0 \
  --tasks walker --methods diffusion_policy --out "$OUT/diffusion_policy" > "$OUT/diffusion_policy.log" 2>&1 \
  || echo "gpu_check: the Diffusion Policy evaluation failed, see $OUT/diffusion_policy.log" >&2
$PY workflow/scripts/paper_cost.py "$OUT/benchmark.json" --out "$OUT/paper_cost.md" > /dev/null
{
  echo "# GPU check ($(date -u +%F), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo
  echo '```'
  echo "$DEVICES"
  echo '```'
  echo
  echo "gpu tests: $TESTS"
  echo
  sed 's/^# /## /' "$OUT/paper_cost.md"
  echo
  echo "## Diffusion Policy evaluation on walker (1000 denoising steps, every episode at once)"
  echo
  grep -A 4 '^## Evaluation' "$OUT/diffusion_policy/benchmark.md" | tail -n 3
  echo
  sed 's/^# /## /; s/^## /### /' "$OUT/benchmark.md"
} > "$REPORT"
cat "$REPORT"
