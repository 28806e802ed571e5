#!/usr/bin/env bash
# The regeneration's last step, run at main's root once drive.sh has nothing left (DRY=1 drive.sh . lists
# nothing): the staged files replace their counterparts under results/default/ (a staged run folder replaces
# the committed folder whole), files of results/default/ that no staged job rewrote are listed and removed
# (except KEEP: the dm_budget study, made by its own target), and paper/default/ is re-rendered from them.
# Commit the result, then delete regeneration/.
# Usage: regeneration/merge.sh    (env: DRY=1: say what would change and stop; KEEP="dm_budget")
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
STAGED=regeneration/default
left=$(DRY=1 regeneration/drive.sh . | grep -c '^  ' || true)
if [ "$left" -ne 0 ] && [ -z "${DRY:-}" ]; then
  echo "merge.sh: $left outputs not staged yet (DRY=1 regeneration/drive.sh . lists them)" >&2
  exit 1
fi
keep_re="^results/default/(${KEEP:-dm_budget})/"
mapfile -t runs < <(cd "$STAGED" && find runs -mindepth 3 -maxdepth 3 -type d -name 'seed*' | sort)
mapfile -t staged < <(cd "$STAGED" && find . -type f | sed 's|^\./||' | sort)
mapfile -t stale < <(git ls-files results/default | grep -Ev "$keep_re" | while read -r f; do
  [ -e "$STAGED/${f#results/default/}" ] || echo "$f"; done)
echo "merge.sh: ${#runs[@]} run folders and ${#staged[@]} files staged; ${#stale[@]} committed files not rewritten" \
  "(kept: ${KEEP:-dm_budget}); $left outputs not staged"
if [ ${#stale[@]} -gt 0 ]; then printf '  not rewritten, removed: %s\n' "${stale[@]:0:20}"; fi
if [ ${#stale[@]} -gt 20 ]; then echo "  ... and $((${#stale[@]} - 20)) more"; fi
[ -n "${DRY:-}" ] && exit 0
for run in "${runs[@]}"; do rm -rf "results/default/$run"; done
for file in "${staged[@]}"; do
  mkdir -p "$(dirname "results/default/$file")"
  cp -p "$STAGED/$file" "results/default/$file"
done
if [ ${#stale[@]} -gt 0 ]; then printf '%s\0' "${stale[@]}" | xargs -0 git rm -q --; fi
.venv/bin/snakemake --cores "${CORES:-2}" --forceall --config rerender=committed
echo "merge.sh: results/default/ replaced and paper/default/ re-rendered; review git status, commit, delete regeneration/"
