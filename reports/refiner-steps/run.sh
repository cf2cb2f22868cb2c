#!/usr/bin/env bash
# Issue 19's sampler table: DDPM vs DDIM with K evaluations from T_k on the own-image sets, then the report.
# Uses the own-image eval's fitted models (out/own-image/cache): run reports/own-image/run.sh first, or the fits run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
. reports/lib/evals.sh
run_refiner_report refiner-steps "vistex-strokes photos-strokes vistex-strokes-repaint" 'Refiner steps: DDPM vs DDIM from T_k (issue 19)' "$@"
