#!/usr/bin/env bash
# Bounded fuzzing of bundlefast: builds the libFuzzer targets (clang, ASan +
# UBSan + coverage) and runs each for SECONDS seconds, seeded with the
# TF-written bundles in tests/data (plus builder-made Snappy / big-endian /
# multi-block ones, tests/fuzz/make_seeds.py) and the kept regressions; then
# the atheris harness over the Python API (atheris from PyPI; its absence fails
# the run unless BUNDLEFAST_FUZZ_ATHERIS=0 says to leave it out). Prints each
# target's execution count against a minimum (a rate per second times SECONDS)
# and fails below it: a harness that stalls or dies early cannot pass quietly.
# Exits 1 if any target found a crash, a hang (-timeout) or an allocation the
# input does not justify (-malloc_limit_mb); the input is left in
# build/fuzz/artifacts (or $BUNDLEFAST_FUZZ_DIR): add it to
# tests/fuzz/regressions/{bundle,tensor}/ with the fix.
#
# BUNDLEFAST_FUZZ_COVERAGE=1 then measures reach: it builds the targets again
# with clang's source-based coverage, replays each target's corpus and prints
# llvm-cov's line and region coverage of csrc/ per target.
#
#   tests/fuzz/run_fuzz.sh 60            # 60 s per target
#   BUNDLEFAST_FUZZ_ATHERIS=0 tests/fuzz/run_fuzz.sh 30
#   BUNDLEFAST_FUZZ_COVERAGE=1 tests/fuzz/run_fuzz.sh 30
set -euo pipefail
seconds=${1:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUNDLEFAST_FUZZ_DIR:-$src/build/fuzz}  # inside the tree (ignored): never a stale cache
py=${PYTHON:-python3}
mkdir -p "$out/artifacts" "$out/logs"

if ! command -v clang++ >/dev/null; then
  echo "run_fuzz: clang++ is needed (Debian: apt-get install clang libclang-rt-dev llvm)" >&2
  exit 2
fi
# Minimum executions per second of each target: a guard against a harness that
# stalls or dies early, not a speed test, so a third or less of the slowest rate
# seen on a CI machine (fuzz_bundle 62/s there and 200-790/s on a dev machine: it
# writes every input to files, and mutants of the 650 KB many-keys seed dominate
# its corpus; fuzz_tensor 2400-3300/s; fuzz_load 3.5-76/s: it reads every input
# nine ways, and its seeds alone are ~25 executions).
declare -A min_rate=([fuzz_bundle]=20 [fuzz_tensor]=300 [fuzz_load]=1)
"$py" -c "import pybind11" 2>/dev/null || "$py" -m pip install -q pybind11  # CMake configures _core too

echo "run_fuzz: building the libFuzzer targets"
{
  cmake -S "$src" -B "$out/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
    -DBUNDLEFAST_BUILD_FUZZERS=ON -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" \
    -DPython_EXECUTABLE="$(command -v "$py")" &&
    cmake --build "$out/build" -j2 --target fuzz_bundle fuzz_tensor
} >"$out/logs/build.log" 2>&1 || { tail -30 "$out/logs/build.log"; exit 2; }

rm -rf "$out/seeds"
"$py" "$src/tests/fuzz/make_seeds.py" "$out/seeds"

# The harnesses write their bundles under $TMPDIR: a private directory, in
# memory if possible, removed at the end.
shm=/tmp
if [ -d /dev/shm ] && [ -w /dev/shm ]; then shm=/dev/shm; fi
TMPDIR=$(mktemp -d "$shm/bundlefast-fuzz.XXXXXX")
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export BUNDLEFAST_NUM_THREADS=2
limits=(-timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=1024 -print_final_stats=1)

failed=0
summary=()
run() {  # name, log, command...
  local name=$1 log=$2
  shift 2
  echo "run_fuzz: $name for $seconds s"
  if ! "$@" >"$log" 2>&1; then
    failed=1
    echo "run_fuzz: $name FAILED:"
    grep -E "ERROR|SUMMARY|Test unit written|Traceback|Error" "$log" | head -20 || tail -20 "$log"
  fi
  local execs cov minimum=$(( ${min_rate[$name]} * seconds ))
  execs=$(grep -oE "^stat::number_of_executed_units: [0-9]+" "$log" | tail -1 | grep -oE "[0-9]+$" || true)
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1 || true)
  if [ -z "$execs" ] || [ "$execs" -lt "$minimum" ]; then
    failed=1
    summary+=("$(printf '%-12s %9s executions, minimum %s: TOO FEW (see %s)' "$name" "${execs:-no}" "$minimum" "$log")")
  else
    summary+=("$(printf '%-12s %9s executions, minimum %s (%s)' "$name" "$execs" "$minimum" "${cov:-?}")")
  fi
}

for target in fuzz_bundle fuzz_tensor; do
  kind=${target#fuzz_}
  mkdir -p "$out/corpus/$target"
  run "$target" "$out/logs/$target.log" "$out/build/$target" -max_total_time="$seconds" "${limits[@]}" \
    -artifact_prefix="$out/artifacts/$target-" \
    "$out/corpus/$target" "$out/seeds/$kind" "$src/tests/fuzz/regressions/$kind"
done

# atheris: the Python API over an extension built with coverage + ASan.
if [ "${BUNDLEFAST_FUZZ_ATHERIS:-1}" != 0 ]; then
  if [ -f "$out/atheris-pkg/asan_with_fuzzer.so" ] ||
    "$py" -m pip install -q --target "$out/atheris-pkg" atheris >"$out/logs/atheris-install.log" 2>&1; then
    echo "run_fuzz: building the extension for atheris"
    CC=clang CXX=clang++ BUILD_TYPE=RelWithDebInfo PYTHON="$py" "$src/tools/devbuild.sh" "$out/build-atheris" \
      -DCMAKE_CXX_COMPILER=clang++ "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link,address" \
      >"$out/logs/build-atheris.log" 2>&1 || { tail -30 "$out/logs/build-atheris.log"; exit 2; }
    mkdir -p "$out/corpus/fuzz_load"
    run fuzz_load "$out/logs/fuzz_load.log" \
      env LD_PRELOAD="$out/atheris-pkg/asan_with_fuzzer.so" PYTHONPATH="$out/build-atheris/pkg:$out/atheris-pkg" \
      "$py" "$src/tests/fuzz/fuzz_load.py" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$out/artifacts/fuzz_load-" \
      "$out/corpus/fuzz_load" "$out/seeds/bundle" "$src/tests/fuzz/regressions/bundle"
  else
    echo "run_fuzz: atheris could not be installed (see $out/logs/atheris-install.log);" \
      "set BUNDLEFAST_FUZZ_ATHERIS=0 to run without the Python harness" >&2
    tail -5 "$out/logs/atheris-install.log" >&2
    exit 2
  fi
else
  echo "run_fuzz: the atheris harness left out (BUNDLEFAST_FUZZ_ATHERIS=0)"
fi

echo "run_fuzz: executions per target ($seconds s each):"
printf '  %s\n' "${summary[@]}"

# Reach: which lines and regions of csrc/ each libFuzzer target's corpus runs.
if [ "${BUNDLEFAST_FUZZ_COVERAGE:-0}" = 1 ]; then
  echo "run_fuzz: building the targets with source-based coverage"
  cov_flags="-fprofile-instr-generate -fcoverage-mapping"
  {
    cmake -S "$src" -B "$out/build-cov" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
      -DBUNDLEFAST_BUILD_FUZZERS=ON "-DCMAKE_CXX_FLAGS=$cov_flags" "-DCMAKE_EXE_LINKER_FLAGS=$cov_flags" \
      -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v "$py")" &&
      cmake --build "$out/build-cov" -j2 --target fuzz_bundle fuzz_tensor
  } >"$out/logs/build-cov.log" 2>&1 || { tail -30 "$out/logs/build-cov.log"; exit 2; }
  echo "run_fuzz: coverage of csrc/ by each corpus (lines, regions):"
  for target in fuzz_bundle fuzz_tensor; do
    rm -f "$out/$target".profraw
    kind=${target#fuzz_}
    LLVM_PROFILE_FILE="$out/$target.profraw" "$out/build-cov/$target" -runs=0 "${limits[@]}" \
      "$out/corpus/$target" "$out/seeds/$kind" "$src/tests/fuzz/regressions/$kind" >"$out/logs/$target-cov.log" 2>&1 || { tail -20 "$out/logs/$target-cov.log"; exit 2; }
    llvm-profdata merge -sparse "$out/$target.profraw" -o "$out/$target.profdata"
    llvm-cov report "$out/build-cov/$target" -instr-profile="$out/$target.profdata" "$src/csrc" \
      >"$out/logs/$target-cov.txt"
    printf '  %-12s %s\n' "$target" "$(awk '/^TOTAL/ {print "lines " $10 " (" $8 - $9 " of " $8 "), regions " $4 ", functions " $7}' \
      "$out/logs/$target-cov.txt")"
  done
  echo "run_fuzz: per-file tables in $out/logs/fuzz_*-cov.txt"
fi

if [ "$failed" != 0 ]; then
  echo "run_fuzz: FAILED (a crash, a hang or too few executions; crash inputs are in $out/artifacts)" >&2
  exit 1
fi
