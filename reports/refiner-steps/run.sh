#!/usr/bin/env bash
# Issue 19's sampler table: DDPM vs DDIM with K evaluations from T_k on the own-image sets, then the report.
# Uses the own-image eval's fitted models (out/own-image/cache): run reports/own-image/run.sh first, or the fits run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DIFF2S_CACHE_DIR="${DIFF2S_CACHE_DIR:-$PWD/out/own-image/cache}"
. reports/lib/evals.sh
run_evals refiner-steps "vistex-strokes photos-strokes vistex-strokes-repaint" "$@"
node reports/own-image/report.js --out-dir out/refiner-steps --report-dir reports/refiner-steps --title 'Refiner steps: DDPM vs DDIM from T_k (issue 19)'
