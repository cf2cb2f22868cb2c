# Sourced by the reports' run.sh scripts: run the evals of one report folder, one at a time, then its report.
#   run_evals <folder under reports/> <default sets, space-separated> [set...]
# Each set is reports/<folder>/<set>.yaml; with no sets given, the defaults run. Logs each start with the load average.
# Run from the repository root (the scripts cd there). Needs ../shared/data beside the repo and a build (pnpm build).
run_evals() {
  local folder="$1" defaults="$2"
  shift 2
  local sets=("$@")
  # shellcheck disable=SC2206
  [ ${#sets[@]} -eq 0 ] && sets=($defaults)
  for s in "${sets[@]}"; do
    echo "== $s ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
    node packages/cli/dist/bin.js eval --config "reports/$folder/$s.yaml" --quiet
  done
}

# The refiner reports (own-image sets, one table per set by reports/own-image/report.js):
#   run_refiner_report <folder> <default sets> <title> [set...]
# Fits are cached in $DIFF2S_CACHE_DIR, by default the own-image eval's cache (out/own-image/cache), so reports that
# compare refiner settings share one fit per image.
run_refiner_report() {
  local folder="$1" defaults="$2" title="$3"
  shift 3
  export DIFF2S_CACHE_DIR="${DIFF2S_CACHE_DIR:-$PWD/out/own-image/cache}"
  run_evals "$folder" "$defaults" "$@"
  node reports/own-image/report.js --out-dir "out/$folder" --report-dir "reports/$folder" --title "$title"
}
