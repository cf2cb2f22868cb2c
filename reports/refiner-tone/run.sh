#!/usr/bin/env bash
# Issue 18: the tone anchor (refiner.tone) against the default detail transfer on the own-image sets, then the report.
# Uses the own-image eval's fitted models (out/own-image/cache): run reports/own-image/run.sh first, or the fits run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DIFF2S_CACHE_DIR="${DIFF2S_CACHE_DIR:-$PWD/out/own-image/cache}"
. reports/lib/evals.sh
run_evals refiner-tone "vistex-strokes photos-strokes embark-strokes" "$@"
node reports/own-image/report.js --out-dir out/refiner-tone --report-dir reports/refiner-tone --title 'Refiner tone anchor (issue 18)'
