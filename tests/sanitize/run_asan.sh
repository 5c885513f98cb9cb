#!/usr/bin/env bash
# The test suite and the fuzz inputs under AddressSanitizer + UndefinedBehaviorSanitizer.
#
# Builds the extension with -DBUNDLEFAST_SANITIZE=ON (Debug) into its own
# directory, preloads the ASan runtime into the (uninstrumented) Python, and
# runs pytest plus a replay of the fuzz seeds and regressions. TensorFlow is
# kept out (the comparison tests need it, and it is not ours to sanitize).
# Any sanitizer report stops the run with a non-zero exit.
#
#   tests/sanitize/run_asan.sh [pytest args...]
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${BUNDLEFAST_ASAN_DIR:-$src/build/asan}  # inside the tree (ignored): never a stale cache
py=${PYTHON:-python3}
cxx=${CXX:-c++}
mkdir -p "$out"

"$py" -c "import pybind11" 2>/dev/null || "$py" -m pip install -q pybind11
echo "run_asan: building with ASan + UBSan"
BUILD_TYPE=Debug CXX="$cxx" PYTHON="$py" "$src/tools/devbuild.sh" "$out/build" -DBUNDLEFAST_SANITIZE=ON \
  >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 2; }

# The runtime the extension was linked against (GCC: libasan.so; clang: libclang_rt.asan).
runtime=$("$cxx" -print-file-name=libasan.so)
[ -f "$runtime" ] || runtime=$("$cxx" -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$runtime" ] || { echo "run_asan: no ASan runtime found for $cxx" >&2; exit 2; }

# A stand-in `tensorflow` that fails to import, so TF tests skip themselves.
mkdir -p "$out/no-tf/tensorflow"
echo 'raise ModuleNotFoundError("TensorFlow is not loaded under the sanitizers", name="tensorflow")' >"$out/no-tf/tensorflow/__init__.py"

# Reports go to files as well: pytest captures fd 2, and a halting sanitizer
# exits before pytest could show what it captured.
rm -rf "$out/reports"
mkdir -p "$out/reports"
# handle_sigbus=0: SIGBUS is ours to handle (csrc/sigbus_guard.cc) and the
# truncated-shard tests check how it reaches the default action.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:handle_sigbus=0:log_path=$out/reports/asan
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$out/reports/ubsan
export PYTHONMALLOC=malloc  # let ASan see Python's allocations too
export PYTHONPATH="$out/no-tf:$out/build/pkg"
# Python itself links no C++ runtime: preload it with ASan, or ASan's
# __cxa_throw interceptor finds nothing to forward to on the first exception.
export LD_PRELOAD="$runtime $("$cxx" -print-file-name=libstdc++.so)"
export BUNDLEFAST_NUM_THREADS=2
export BUNDLEFAST_TESTS_WITHOUT_TF=1  # TF is left out on purpose: its skips do not fail CI here

report() {
  local status=$?
  if compgen -G "$out/reports/*" >/dev/null; then
    echo "run_asan: sanitizer reports:" >&2
    cat "$out/reports"/* >&2
    status=1
  fi
  [ "$status" = 0 ] && echo "run_asan: clean" || echo "run_asan: FAILED" >&2
  exit "$status"
}
trap report EXIT

echo "run_asan: pytest"
# RSS measurements mean nothing under ASan (shadow memory, quarantine): skip them.
# tests/test_ci_checks.py runs pip and pytest in subprocesses and no bundlefast C++:
# under the preloaded runtime it would sanitize those, not us.
(cd "$src" && "$py" -m pytest -q -p no:cacheprovider -m "not tf" \
  --deselect tests/test_zero_copy.py::test_views_add_no_anonymous_memory --ignore=tests/test_ci_checks.py "$@")

echo "run_asan: fuzz seeds and regressions"
"$py" "$src/tests/fuzz/make_seeds.py" "$out/seeds" >/dev/null
"$py" "$src/tests/fuzz/fuzz_load.py" --replay "$out/seeds/bundle"/* "$src/tests/fuzz/regressions/bundle"/*
