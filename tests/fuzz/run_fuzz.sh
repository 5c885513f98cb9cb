#!/usr/bin/env bash
# Bounded fuzzing of bundlefast: builds the libFuzzer targets (clang, ASan +
# UBSan + coverage) and runs each for SECONDS seconds, seeded with the
# TF-written bundles in tests/data (plus builder-made Snappy / big-endian /
# multi-block ones, tests/fuzz/make_seeds.py) and the kept regressions; then
# the atheris harness over the Python API, if atheris can be installed. Prints
# each target's execution count. Exits 1 if any target found a crash, a hang
# (-timeout) or an allocation the input does not justify (-malloc_limit_mb);
# the input is left in build/fuzz/artifacts (or $BUNDLEFAST_FUZZ_DIR): add it to
# tests/fuzz/regressions/{bundle,tensor}/ with the fix.
#
#   tests/fuzz/run_fuzz.sh 60            # 60 s per target
#   BUNDLEFAST_FUZZ_ATHERIS=0 tests/fuzz/run_fuzz.sh 30
set -euo pipefail
seconds=${1:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUNDLEFAST_FUZZ_DIR:-$src/build/fuzz}  # inside the tree (ignored): never a stale cache
py=${PYTHON:-python3}
mkdir -p "$out/artifacts" "$out/logs"

if ! command -v clang++ >/dev/null; then
  echo "run_fuzz: clang++ is needed (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
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
  local done_line
  done_line=$(grep -E "^Done [0-9]+ runs" "$log" | tail -1 || true)
  local cov
  cov=$(grep -oE "cov: [0-9]+ ft: [0-9]+" "$log" | tail -1 || true)
  summary+=("$(printf '%-13s %s (%s)' "$name" "${done_line:-no final count (see $log)}" "${cov:-?}")")
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
    echo "run_fuzz: atheris could not be installed; skipping the Python harness (see $out/logs/atheris-install.log)"
  fi
fi

echo "run_fuzz: executions per target ($seconds s each):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" != 0 ]; then
  echo "run_fuzz: crash inputs are in $out/artifacts" >&2
  exit 1
fi
