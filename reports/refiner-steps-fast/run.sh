#!/usr/bin/env bash
# Issue 19: DDIM 10 (the default) against 5 and 3 evaluations from T_k on the own-image strokes sets, then the report.
# Uses the own-image eval's fitted models (out/own-image/cache): run reports/own-image/run.sh first, or the fits run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
. reports/lib/evals.sh
run_refiner_report refiner-steps-fast "vistex-strokes photos-strokes" 'Refiner steps: DDIM 10, 5 and 3 (issue 19)' "$@"
