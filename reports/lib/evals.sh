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
