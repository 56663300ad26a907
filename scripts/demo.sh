#!/usr/bin/env bash
# The README's run command: on a fresh machine, installs everything, builds, writes the built-in
# default model (random weights + the real DeepSeek tokenizer) and runs the main job on it: a chat
# prompt through tokenizer → official chat encoding → prefill → decode → streaming detokenization.
# Usage: scripts/demo.sh ["your prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
# --if-missing: kept when models/default already holds a valid default model with its tokenizer.
./build/dsv4 make-model --preset default --out models/default --if-missing
echo "== dsv4 run on the built-in default model. Note: its weights are random, so the text below is noise =="
./build/dsv4 run --model models/default --prompt "${1:-Hello! What can you do?}" -n 32 --seed 1
