#!/usr/bin/env bash
# Issue 18's evaluation: the evals of this folder (one per data set and mask kind), then the report.
# Needs ../shared/data beside the repo and a build (pnpm build). Fitted models are cached in out/own-image/cache
# (so the guarded and unguarded runs share one fit per image). Sets: all, or the names given as arguments.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DIFF2S_CACHE_DIR="${DIFF2S_CACHE_DIR:-$PWD/out/own-image/cache}"
. reports/lib/evals.sh
run_evals own-image "vistex-strokes vistex-square photos-strokes photos-square embark-strokes" "$@"
node reports/own-image/report.js
