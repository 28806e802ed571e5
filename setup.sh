#!/usr/bin/env bash
# One-step install: a virtual environment in .venv with the locked dependency set, and this
# repository installed in editable mode. Safe to rerun; it reuses an existing .venv.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY'
import sys
if not ((3, 10) <= sys.version_info[:2] <= (3, 12)):
    sys.exit(f"DBC-Bench supports CPython 3.10-3.12; {sys.executable} is {sys.version.split()[0]}. "
             "Set PYTHON=/path/to/python3.11 and rerun.")
PY
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and alone: with it in place, no other package can pull a CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
echo "DBC-Bench installed in .venv ($(.venv/bin/python --version))."
