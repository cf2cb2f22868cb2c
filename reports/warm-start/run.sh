#!/usr/bin/env bash
# Issue 18: the prior's warm start against from-scratch per-image fits (configs in this folder), then the report.
# Fits go to out/warm-start/cache (a fresh folder: every fit's time is this run's).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DIFF2S_CACHE_DIR="${DIFF2S_CACHE_DIR:-$PWD/out/warm-start/cache}"
sets=("$@")
[ ${#sets[@]} -eq 0 ] && sets=(embark-strokes)
for s in "${sets[@]}"; do
  echo "== $s ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
  node packages/cli/dist/bin.js eval --config "reports/warm-start/$s.yaml" --quiet
done
node reports/own-image/report.js --out-dir out/warm-start --report-dir reports/warm-start --title 'Warm start vs from scratch (issue 18)'
