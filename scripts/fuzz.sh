#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzX(f *testing.F)) for a bounded time
# (issue 17): PGO_FUZZTIME each (default 3s), one target after another, and fails
# on the first crasher (the failing input is written to the package's
# testdata/fuzz/FuzzX/; commit it as a regression seed once fixed). Plain
# `go test` already runs every seed corpus entry as a unit test.
# Each package is compiled once with the fuzzing instrumentation (go test -c
# -fuzz) and its test binary runs each of its targets in the package directory,
# as `go test -fuzz` would; that saves a link per target.
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
cache="$(go env GOCACHE)/fuzz"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
start=$(date +%s)
mapfile -t lines < <(grep -r -E --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . |
  sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' | sort -u)
if [ ${#lines[@]} -eq 0 ]; then echo "fuzz: no fuzz targets found"; exit 1; fi
n=0
built=""
for line in "${lines[@]}"; do
  pkg=${line% *}; target=${line#* }
  exe="$bin/${pkg//\//_}.test"
  if [ "$built" != "$pkg" ]; then
    go test -c -fuzz . -o "$exe" "./$pkg"
    built=$pkg
  fi
  t0=$(date +%s)
  if ! out=$(cd "$root/$pkg" && "$exe" -test.run '^$' -test.fuzz "^${target}\$" -test.fuzztime "$fuzztime" \
    -test.parallel "$parallel" -test.fuzzminimizetime "${PGO_FUZZMINIMIZETIME:-1s}" -test.fuzzcachedir "$cache/$module/$pkg" 2>&1); then
    printf '%s\n' "$out"
    echo "fuzz: $pkg $target FAILED (the failing input is in $pkg/testdata/fuzz/$target/)"
    exit 1
  fi
  n=$((n + 1))
  echo "fuzz: $pkg $target ok ($(( $(date +%s) - t0 ))s) $(printf '%s\n' "$out" | grep -E '^fuzz: elapsed' | tail -1 | sed 's/^fuzz: //')"
done
echo "fuzz: $n targets, $fuzztime each, $(( $(date +%s) - start ))s in all"
