#!/usr/bin/env bash
# Fuzzes what Herald reads from users (fuzz/; README, "Fuzzing"): builds the
# cargo-fuzz targets, runs each for the given seconds (default 60), one after
# the other so that each has the machine, then prints per target the inputs
# tried and the crashes found. Targets may be named after the seconds
# (`ops/fuzz.sh 300 rule template`); all run otherwise. Exits non-zero if any
# target crashed; the crashing input is then in fuzz/artifacts/<target>/.
#
# cargo-fuzz passes nightly-only -Z flags: RUSTC_BOOTSTRAP=1 lets stable take
# them. No sanitizer (-s none): Herald forbids unsafe code, so what fuzzing
# finds is panics; debug assertions (-a) keep overflow checks on.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "[fuzz] installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
flags=(-s none -a)
cargo fuzz build "${flags[@]}"

rows=()
status=0
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  log="target/fuzz-$target.log"
  echo "[fuzz] $target for ${seconds}s" >&2
  # New inputs go to corpus/ (kept between runs, not committed); seeds/ holds
  # a few valid examples to start from.
  if cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    crashes=0
  else
    crashes=$(find "artifacts/$target" -type f 2>/dev/null | wc -l)
    [ "$crashes" -gt 0 ] || crashes="? (see fuzz/$log)"
    status=1
  fi
  # libFuzzer's final statistics: inputs executed.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rows+=("$(printf '%-16s %14s %8s' "$target" "${runs:-?}" "$crashes")")
done

printf '%-16s %14s %8s\n' target inputs crashes
printf '%s\n' "${rows[@]}"
exit "$status"
