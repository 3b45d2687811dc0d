#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzX(f *testing.F)) for a bounded time
# (issue 17): PGO_FUZZTIME each (default 3s), one target after another, and fails
# on the first crasher (go test writes the failing input to the package's
# testdata/fuzz/FuzzX/; commit it as a regression seed once fixed). Plain
# `go test` already runs every seed corpus entry as a unit test.
# PGO_FUZZ_PARALLEL is the number of fuzzing workers per target (default 1: the
# machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${PGO_FUZZTIME:-3s}
parallel=${PGO_FUZZ_PARALLEL:-1}
start=$(date +%s)
# Every package with a fuzz target, and its targets: one `go test -fuzz` per
# target (go test fuzzes one target per run).
mapfile -t lines < <(grep -r -E --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . |
  sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' | sort -u)
if [ ${#lines[@]} -eq 0 ]; then echo "fuzz: no fuzz targets found"; exit 1; fi
n=0
for line in "${lines[@]}"; do
  pkg=${line% *}; target=${line#* }
  t0=$(date +%s)
  if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "$parallel" "./$pkg" 2>&1); then
    printf '%s\n' "$out"
    echo "fuzz: $pkg $target FAILED (the failing input is in $pkg/testdata/fuzz/$target/)"
    exit 1
  fi
  n=$((n + 1))
  echo "fuzz: $pkg $target ok ($(( $(date +%s) - t0 ))s) $(printf '%s\n' "$out" | grep -E '^fuzz: elapsed' | tail -1 | sed 's/^fuzz: //')"
done
echo "fuzz: $n targets, $fuzztime each, $(( $(date +%s) - start ))s in all"
