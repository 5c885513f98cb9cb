# shellcheck shell=bash
# The steps .ci/run is made of, one function each, so tests can run a step on
# its own (tests/test_ci_script.py runs `install` with a requirement that
# cannot install and checks that nothing after it runs). Sourced, never run.
#
# Rule for this file and .ci/run: one command per line, no `a && b` or `a || b`
# around a step. Under `set -e` a failure on the left of `&&` does not stop the
# script, so a failing install would go on to run the tests against whatever
# happens to be installed.

# fresh_venv DIR [PYTHON]: a new virtualenv at DIR, activated, with a current pip.
fresh_venv() {
  local dir=$1 python=${2:-python3}
  rm -rf "$dir"
  "$python" -m venv "$dir"
  # shellcheck disable=SC1091
  . "$dir/bin/activate"
  python -m pip install -q --upgrade pip
}

# install ARGS...: pip install into the active venv; stops the script on failure.
install() {
  python -m pip install -q "$@"
}

# minimum_constraints FILE: `name==version` for every `name>=version` of the
# package's runtime dependencies that applies to this Python (pyproject.toml),
# so a venv can be pinned to the declared minimums.
minimum_constraints() {
  python "$(dirname "${BASH_SOURCE[0]}")/minimum_constraints.py" pyproject.toml >"$1"
  echo "ci: declared minimums for $(python -c 'import sys; print(sys.version.split()[0])'):" $(cat "$1")
}

# apt_install PACKAGE...: Debian packages by name (root, as CI runs).
apt_install() {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# fuzz_toolchain: clang, the libFuzzer runtime and llvm-cov/llvm-profdata, from
# Debian by package name (the unversioned names follow the release's default
# LLVM). Fails when they are still missing afterwards.
fuzz_toolchain() {
  if ! command -v clang++ >/dev/null; then
    apt_install clang libclang-rt-dev llvm
  fi
  command -v clang++ >/dev/null
  local fuzzer_rt
  fuzzer_rt=$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)
  if [ ! -f "$fuzzer_rt" ]; then
    apt_install libclang-rt-dev
  fi
  test -f "$(clang++ -print-file-name=libclang_rt.fuzzer-x86_64.a)"
  command -v llvm-profdata >/dev/null
  command -v llvm-cov >/dev/null
}

# arm64_toolchain: an AArch64 cross compiler and qemu-user from Debian, for
# tests/arm64/run.sh. Fails when they are still missing afterwards.
arm64_toolchain() {
  if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
    apt_install g++-aarch64-linux-gnu
  fi
  if ! command -v qemu-aarch64 >/dev/null; then
    apt_install qemu-user
  fi
  command -v aarch64-linux-gnu-g++ >/dev/null
  command -v qemu-aarch64 >/dev/null
}
