#!/usr/bin/env bash
# Rebuilds every published report under docs/results/ from the committed comparison.json files (each seed
# from its parts, then the merge over seeds) and checks the rebuilt files are byte-identical to the committed
# ones; with --write, writes them in place instead.
#
# Usage: scripts/rebuild-results.sh [AECNN_BINARY] [--write]     (default binary: .build/debug/aecnn)
# Exits non-zero naming every file that differs.
set -euo pipefail
cd "$(dirname "$0")/.."
aecnn=.build/debug/aecnn
write=""
for a in "$@"; do
  case "$a" in
    --write) write=1 ;;
    *) aecnn=$a ;;
  esac
done
[[ -x "$aecnn" ]] || { echo "rebuild-results: $aecnn is not an executable; build it first (swift build)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
differ=0
rebuild() {   # rebuild <report folder> <comparison.json>...
  local dir=$1; shift
  local target="$out/$dir"
  [[ -n "$write" ]] && target="$dir"
  "$aecnn" report --merge "$@" --output "$target" > /dev/null 2> "$out/log" || { cat "$out/log" >&2; exit 1; }
  if [[ -z "$write" ]]; then
    for f in "$target"/*; do
      cmp -s "$f" "$dir/$(basename "$f")" || { echo "rebuild-results: $dir/$(basename "$f") differs from its rebuild" >&2; differ=1; }
    done
  fi
}
reports=0
for run in docs/results/*/ docs/results/*/*/; do
  run=${run%/}
  compgen -G "$run/seed-*/comparison.json" > /dev/null || continue
  for seed in "$run"/seed-*/; do
    seed=${seed%/}
    if compgen -G "$seed/parts/*/comparison.json" > /dev/null; then
      rebuild "$seed" "$seed"/parts/*/comparison.json
      reports=$((reports + 1))
    fi
  done
  if [[ -d "$run/merged" ]]; then
    rebuild "${run%/}/merged" "$run"/seed-*/comparison.json
    reports=$((reports + 1))
  fi
done
[[ $differ == 0 ]] || exit 1
if [[ -n "$write" ]]; then echo "rebuild-results: $reports reports written"; else echo "rebuild-results: $reports reports rebuilt byte-identical to the committed files"; fi
