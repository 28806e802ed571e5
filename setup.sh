#!/usr/bin/env bash
# One-step install: a virtual environment in .venv with the locked dependency set, and this
# repository installed in editable mode. Safe to rerun; it reuses an existing .venv.
#   ./setup.sh            CPU build of torch (what CI and the committed results use)
#   ./setup.sh --cuda     CUDA build of the same torch version, from TORCH_CUDA_INDEX
#                         (default https://download.pytorch.org/whl/cu128; set it to your driver's CUDA)
#                         (a later plain ./setup.sh keeps whichever build is installed)
#   --dry-run             print the install commands instead of running them
set -euo pipefail
cd "$(dirname "$0")"
CUDA=0
DRY=0
for arg in "$@"; do
  case "$arg" in
    --cuda) CUDA=1 ;;
    --dry-run) DRY=1 ;;
    *) echo "setup.sh: unknown option '$arg' (choose from --cuda, --dry-run)" >&2; exit 2 ;;
  esac
done
TORCH="torch==2.13.0"  # the version requirements.lock is tested with
TORCH_CUDA_INDEX=${TORCH_CUDA_INDEX:-https://download.pytorch.org/whl/cu128}
PYTHON=${PYTHON:-python3}
step() { if [ "$DRY" = 1 ]; then echo "$*"; else "$@"; fi; }
"$PYTHON" - <<'PY'
import sys
if not ((3, 10) <= sys.version_info[:2] <= (3, 12)):
    sys.exit(f"DBC-Bench supports CPython 3.10-3.12; {sys.executable} is {sys.version.split()[0]}. "
             "Set PYTHON=/path/to/python3.11 and rerun.")
PY
[ -x .venv/bin/python ] || step "$PYTHON" -m venv .venv
step .venv/bin/python -m pip install --quiet --upgrade pip
# torch first and alone: with it in place, no other package can pull another build.
if [ "$CUDA" = 1 ]; then
  # The CPU and CUDA builds share a version number, so pip would keep whichever is installed; forced, it
  # replaces the installed one only once the CUDA build has downloaded.
  step .venv/bin/python -m pip install --quiet --force-reinstall "$TORCH" --index-url "$TORCH_CUDA_INDEX"
  # pip may still take a CPU wheel from a configured find-links folder: say so rather than carry on.
  if [ "$DRY" = 0 ] && ! .venv/bin/python -c "import sys, torch; sys.exit(0 if torch.version.cuda else 1)"; then
    echo "setup.sh --cuda: pip installed a CPU build of torch ($(.venv/bin/python -c 'import torch; print(torch.__version__)')); check TORCH_CUDA_INDEX and pip's find-links (pip config list)" >&2
    exit 1
  fi
else
  step .venv/bin/python -m pip install --quiet "$TORCH"
fi
step .venv/bin/python -m pip install --quiet -r requirements.lock
step .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
step .venv/bin/python -m methods.devices
[ "$DRY" = 1 ] || echo "DBC-Bench installed in .venv ($(.venv/bin/python --version))."
