#!/usr/bin/env bash
# Issue 18: the guard's texture tolerance with the default refiner on the own-image sets, then the report.
# Uses the own-image eval's fitted models (out/own-image/cache): run reports/own-image/run.sh first, or the fits run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
. reports/lib/evals.sh
run_refiner_report guard-tolerance "vistex-strokes photos-strokes embark-strokes" 'Guard tolerance (issue 18)' "$@"
