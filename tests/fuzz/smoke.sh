#!/usr/bin/env bash
# The CI smoke run of the libFuzzer targets (docs/fuzzing.md): each target
# runs its seed corpus (which holds the input of every bug found so far),
# then fuzzes on from it for SECONDS. Any crash, leak, hang (> 20 s per
# input) or sanitizer report fails the run; the input is kept and named.
#   tests/fuzz/smoke.sh [BUILD_DIR [SECONDS]]        defaults: build-fuzz 15
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-fuzz}
secs=${2:-15}
out=$(mktemp -d /tmp/kata-fuzz-smoke.XXXXXX)
for t in fuzz_ttrpc fuzz_oci_spec fuzz_config fuzz_agent_create fuzz_agent_requests; do
  dict=()
  case $t in
    fuzz_config) dict=(-dict=tests/fuzz/toml.dict) ;;
    fuzz_oci_spec | fuzz_agent_*) dict=(-dict=tests/fuzz/json.dict) ;;
  esac
  mkdir -p "$out/$t"
  start=$SECONDS
  if ! "$build/bin/$t" -max_total_time="$secs" -timeout=20 -artifact_prefix="$out/$t-" "${dict[@]}" \
      "$out/$t" "tests/fuzz/corpus/$t" >"$out/$t.log" 2>&1; then
    tail -n 60 "$out/$t.log" >&2
    echo "fuzz smoke: $t FAILED; its log and the input are in $out" >&2
    exit 1
  fi
  echo "fuzz smoke: $t ok ($(grep -o '^Done [0-9]* runs' "$out/$t.log" | tail -1) in $((SECONDS - start)) s)"
done
rm -rf "$out"
