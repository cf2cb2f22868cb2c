#!/usr/bin/env bash
# Issue 18: the tone anchor (refiner.tone) against the default detail transfer on the own-image sets, then the report.
# Uses the own-image eval's fitted models (out/own-image/cache): run reports/own-image/run.sh first, or the fits run here.
set -euo pipefail
cd "$(dirname "$0")/../.."
. reports/lib/evals.sh
run_refiner_report refiner-tone "vistex-strokes photos-strokes embark-strokes" 'Refiner tone anchor (issue 18)' "$@"
