#!/usr/bin/env bash
# Copy the finished jobs' committable files of a regeneration's scratch clone into regeneration/default/,
# their paths kept: run folders whose eval_final.csv, and pre-trainings whose model.pt, were written after
# SCRATCH/.regen_start, and every other file of SCRATCH/results/default/ written after it, except what git
# ignores (models, datasets, logs). A file staged once is kept: a later session's job of the same output (a data
# summary, a pre-training installed from its shipped copy) does not replace the first.
# Usage: regeneration/stage.sh SCRATCH
set -euo pipefail
SCRATCH=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
MARK="$SCRATCH/.regen_start"
[ -f "$MARK" ] || { echo "stage.sh: $MARK is missing (touch it when the regeneration starts)" >&2; exit 2; }
cd "$SCRATCH"
finished() {  # a run or pre-training folder counts once its last-written file is new
  case "$1" in
    results/default/runs/*) [ "$(dirname "$1")/eval_final.csv" -nt "$MARK" ] ;;
    results/default/diffusion_model/*) [ "$(dirname "$1")/model.pt" -nt "$MARK" ] ;;
    results/default/shipped_models/*|results/default/benchmarks/ship_model/*) false ;;  # maintainers' shipping
    *) true ;;
  esac
}
count=0
while IFS= read -r -d '' file; do
  git check-ignore -q "$file" && continue
  finished "$file" || continue
  target="$HERE/default/${file#results/default/}"
  [ -e "$target" ] && continue
  mkdir -p "$(dirname "$target")"
  cp -p "$file" "$target"
  count=$((count + 1))
done < <(find results/default -type f -newer "$MARK" -print0)
echo "staged $count files into $HERE/default/"
