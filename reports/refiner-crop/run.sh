#!/usr/bin/env bash
# Issue 19: the refiner on a crop around the hole against the whole image, then the report.
# Uses the own-image eval's fitted models (out/own-image/cache): run reports/own-image/run.sh first, or the fits run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
. reports/lib/evals.sh
run_refiner_report refiner-crop "photos-square" 'Refiner on a crop around the hole (issue 19)' "$@"
