#!/usr/bin/env bash
# Installs the official `openai` npm client, pinned by tests/server/openai_client/package-lock.json
# (integrity hashes), for the e2e test that points it at `dsv4 serve` (tests/server/
# openai_client_test.cc). Idempotent: does nothing when the pinned version is already there. Runs no
# package scripts. Without node/npm it says so and leaves the test to skip.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/server/openai_client" && pwd)"
PINNED="$(sed -n 's/.*"openai": "\([0-9.]*\)".*/\1/p' "$DIR/package.json")"

installed() {
  node -e "process.exit(require('$DIR/node_modules/openai/package.json').version === '$PINNED' ? 0 : 1)" \
    2>/dev/null
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup-openai-client: node/npm not found; the openai client test will be skipped" >&2
  exit 0
fi
if installed; then
  exit 0
fi
echo "setup-openai-client: installing openai@$PINNED (pinned) in tests/server/openai_client" >&2
(cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
installed || { echo "setup-openai-client: openai@$PINNED did not install" >&2; exit 1; }
