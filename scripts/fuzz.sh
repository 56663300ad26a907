#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for N seconds (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DDSV4_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [ ! -d fuzz ]; then echo "fuzz: no targets yet"; exit 0; fi
targets=$(cd fuzz && ls *_fuzz.cc 2>/dev/null | sed 's/\.cc$//')
cmake --build build-fuzz -j "$(nproc)" --target $targets
for t in $targets; do
  mkdir -p build-fuzz/corpus/$t
  seeds=()
  [ -d fuzz/seeds/$t ] && seeds=(fuzz/seeds/$t)
  echo "fuzz: $t for ${secs}s"
  build-fuzz/$t -max_total_time="$secs" -max_len=65536 -print_final_stats=1 build-fuzz/corpus/$t "${seeds[@]}" 2>&1 | tail -n 3
done
