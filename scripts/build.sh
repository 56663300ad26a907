#!/usr/bin/env bash
# Configures and builds into build/ (Release-ish: -O2 -g). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -G Ninja "$@" >/dev/null
cmake --build build -j "$jobs"
