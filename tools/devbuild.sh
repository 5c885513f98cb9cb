#!/usr/bin/env bash
# Developer build without installing: configure + build the extension into
# BUILD_DIR and lay out an importable package at BUILD_DIR/pkg, so several
# developers (or worktrees) can build side by side without sharing a venv.
#   tools/devbuild.sh /tmp/my-build [extra cmake args...]
#   PYTHONPATH=/tmp/my-build/pkg python -m pytest
set -euo pipefail
build_dir=${1:?usage: tools/devbuild.sh BUILD_DIR [cmake args...]}
shift
src=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
cmake -S "$src" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} \
  -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v "$py")" "$@" >/dev/null
cmake --build "$build_dir" -j2
pkg="$build_dir/pkg/bundlefast"
mkdir -p "$pkg"
for f in "$src"/python/bundlefast/*; do ln -sfn "$f" "$pkg/$(basename "$f")"; done
cp -f "$build_dir"/_core*.so "$pkg/"
echo "PYTHONPATH=$build_dir/pkg"
