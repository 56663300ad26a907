#!/usr/bin/env bash
# The README's test command: sets everything up on a fresh machine, builds, runs every test suite
# (unit, kernels, golden, tokenizer/encoding, e2e) and the fuzz targets briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
(cd build && ctest --output-on-failure -j 2)
./scripts/fuzz.sh 20
