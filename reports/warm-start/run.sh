#!/usr/bin/env bash
# Issue 18: the prior's warm start against from-scratch per-image fits (configs in this folder), then the report.
# Fits go to out/warm-start/cache (a fresh folder: every fit's time is this run's).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DIFF2S_CACHE_DIR="${DIFF2S_CACHE_DIR:-$PWD/out/warm-start/cache}"
. reports/lib/evals.sh
run_refiner_report warm-start "embark-strokes" 'Warm start vs from scratch (issue 18)' "$@"
