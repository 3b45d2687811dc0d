#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzX(f *testing.F)) for a bounded time
# (issue 17): PGO_FUZZTIME each (default 3s), one target after another, and fails
# on the first crasher (the failing input is written to the package's
# testdata/fuzz/FuzzX/; commit it as a regression seed once fixed). Plain
# `go test` already runs every seed corpus entry as a unit test.
# Each package is compiled once with the fuzzing instrumentation (go test -c
# -fuzz) and its test binary runs each of its targets in the package directory,
# as `go test -fuzz` would; that saves a link per target. Its generated corpus
# goes to a fresh directory, so that the short run fuzzes from the committed
# seeds instead of spending its seconds re-running go's cached corpus (which
# `go test -fuzz` keeps using for longer runs).
# PGO_FUZZ_PARALLEL is the number of fuzzing workers per target (default 1: the
# machine is shared). PGO_FUZZMINIMIZETIME bounds the minimizing of each new
# interesting input (default 1s; go's default of 60s would eat the whole run: a
# target whose executions take a millisecond spends it minimizing, not fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${PGO_FUZZTIME:-3s}
parallel=${PGO_FUZZ_PARALLEL:-1}
root=$(pwd)
module=$(go list -m)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
start=$(date +%s)
mapfile -t lines < <(grep -r -E --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . |
  sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' | sort -u)
if [ ${#lines[@]} -eq 0 ]; then echo "fuzz: no fuzz targets found"; exit 1; fi
# Each package's binary is built by a go command of its own (go refuses -fuzz
# with several packages), all at once so that the links overlap.
mapfile -t pkgs < <(printf '%s\n' "${lines[@]}" | cut -d' ' -f1 | sort -u)
builds=()
for pkg in "${pkgs[@]}"; do
  go test -c -fuzz . -o "$bin/${pkg//\//_}.test" "./$pkg" &
  builds+=($!)
done
for b in "${builds[@]}"; do wait "$b"; done
n=0
for line in "${lines[@]}"; do
  pkg=${line% *}; target=${line#* }
  exe="$bin/${pkg//\//_}.test"
  t0=$(date +%s)
  if ! out=$(cd "$root/$pkg" && "$exe" -test.run '^$' -test.fuzz "^${target}\$" -test.fuzztime "$fuzztime" \
    -test.parallel "$parallel" -test.fuzzminimizetime "${PGO_FUZZMINIMIZETIME:-1s}" -test.fuzzcachedir "$bin/cache/$module/$pkg/$target" 2>&1); then
    # go reports "context deadline exceeded" when the time ran out while it was
    # still gathering baseline coverage: no input failed, so it is no crasher.
    if printf '%s\n' "$out" | grep -q 'Failing input written' ||
      ! printf '%s\n' "$out" | grep -qx '    context deadline exceeded'; then
      printf '%s\n' "$out"
      echo "fuzz: $pkg $target FAILED (a failing input is in $pkg/testdata/fuzz/$target/)"
      exit 1
    fi
    echo "fuzz: $pkg $target: the time ran out while go still ran the seeds; no input failed"
  fi
  n=$((n + 1))
  echo "fuzz: $pkg $target ok ($(( $(date +%s) - t0 ))s) $(printf '%s\n' "$out" | grep -E '^fuzz: elapsed' | tail -1 | sed 's/^fuzz: //')"
done
echo "fuzz: $n targets, $fuzztime each, $(( $(date +%s) - start ))s in all"
