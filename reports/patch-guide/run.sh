#!/usr/bin/env bash
# Issue 22's measurement: the patch guide and its variants (configs in this folder), then the README table.
# Needs ../shared/data beside the repo and a build (pnpm build). Sets: all, or the names given as arguments.
# One eval at a time: the guide runs on one core, so the times per image are one core's.
set -euo pipefail
cd "$(dirname "$0")/../.."
. reports/lib/evals.sh
run_evals patch-guide "vistex-strokes vistex-square embark-strokes photos-large" "$@"
node reports/patch-guide/report.js
