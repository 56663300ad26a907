#!/usr/bin/env bash
# The CPU-speed targets (issue 4), measured the way docs/performance.md reports them: R rounds of
#   flash-slice: prefill of a 512-token prompt (GFLOP/s in the linear kernels / the bf16 peak: the
#                nominal 460 and the one `dsv4 bench` measures right after each prefill),
#                then 32 decode steps (bandwidth ratio)
#   flash-slice: decode at a synthetic 4K context
#   pro-slice:   decode at a synthetic 4K context
# each a single `dsv4 bench --json` run (its ratio uses the probe taken right after it), then
# 64K-vs-4K context pairs. Given a second binary, every round runs both, alternating, so the two
# are compared in the same minutes: this VM's read bandwidth moves by 2x within minutes, and
# numbers from different runs of this script are not comparable.
#
# Usage: scripts/bench-targets.sh [--rounds R] [--pairs P] [--fs DIR] [--ps DIR] [--peak GFLOPS]
#                                 [--fast-prefill] BIN [BIN_B]
# --fast-prefill: every round also runs the 512-token prefill in fast-prefill mode (flash-fast;
# medians prefill-fast-*), the opt-in oneDNN GEMMs (docs/kernels.md).
# The models are made with BIN's make-model presets if missing (3.9 + 8.0 GB of disk). --peak: the
# nominal dot-product peak of 2 threads; by default 460 where the kernels use vdpbf16ps (Zen 4 at
# 3.6 GHz: 64 flops per cycle per core) and 205 where they use fp32 FMA (Zen 3 at 3.2 GHz: 32).
set -euo pipefail

rounds=3 pairs=2 fs=/tmp/fs ps=/tmp/ps peak= fast=0
while [[ $# -gt 0 && $1 == --* ]]; do
  if [[ $1 == --fast-prefill ]]; then fast=1; shift; continue; fi
  case $1 in
    --rounds) rounds=$2 ;;
    --pairs) pairs=$2 ;;
    --fs) fs=$2 ;;
    --ps) ps=$2 ;;
    --peak) peak=$2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[[ $# -ge 1 && $# -le 2 ]] || { sed -n 2,16p "$0" >&2; exit 2; }
bins=("$@")

for preset in flash-slice:"$fs" pro-slice:"$ps"; do
  dir=${preset#*:}
  [[ -f $dir/config.json ]] || "${bins[0]}" make-model --preset "${preset%%:*}" --out "$dir"
done

out=$(mktemp)
trap 'rm -f "$out"' EXIT
field() { grep -o "\"$2\":[-0-9.e+]*" <<<"$1" | head -1 | cut -d: -f2; }
name() { echo "$(basename "$(dirname "$1")")/$(basename "$1")"; }  # tells two dsv4 binaries apart
run() {  # label bin args...
  local label=$1 bin=$2 json
  shift 2
  json=$("$bin" bench --threads 2 --json "$@" 2>/dev/null | tail -1)
  local ratio ms probe line
  ratio=$(field "$json" decode_bandwidth_ratio)
  ms=$(awk -v t="$(field "$json" decode_tok_s)" 'BEGIN { printf "%.1f", 1000 / t }')
  probe=$(field "$json" machine_read_gbs)
  line=$(printf '%s %-10s %-14s decode %6s ms/token  ratio %.3f  probe %5.1f GB/s' \
    "$(date +%T)" "$label" "$(name "$bin")" "$ms" "$ratio" "$probe")
  echo "$label $(name "$bin") ratio $ratio ms $ms" >>"$out"
  if [[ $label == flash-p512 || $label == flash-fast ]]; then
    local lin dot pr pre=prefill
    [[ $label == flash-fast ]] && pre=prefill-fast
    lin=$(field "$json" prefill_linear_gflops)
    dot=$(field "$json" machine_dot_gflops)
    pr=$(field "$json" prefill_peak_ratio)
    if [[ -z $peak ]]; then  # GFLOP/s, 2 threads (docs/performance.md)
      if grep -q '"machine_dot_op":"[^"]*vdpbf16ps' <<<"$json"; then peak=460; else peak=205; fi
    fi
    line+=$(printf '  | prefill %.1f GFLOP/s in the linear kernels = %.3f of %d nominal, %.3f of the %.0f measured' \
      "$lin" "$(awk -v g="$lin" -v p=$peak 'BEGIN { print g / p }')" $peak "$pr" "$dot")
    echo "$pre-nominal $(name "$bin") ratio $(awk -v g="$lin" -v p=$peak 'BEGIN { print g / p }') ms 0" >>"$out"
    echo "$pre-measured $(name "$bin") ratio $pr ms 0" >>"$out"
  fi
  echo "$line"
}

for ((i = 0; i < rounds; ++i)); do
  for bin in "${bins[@]}"; do
    run flash-p512 "$bin" --model "$fs" --prompt-len 512 --gen 32
    if [[ $fast == 1 ]]; then run flash-fast "$bin" --model "$fs" --prompt-len 512 --gen 4 --fast-prefill; fi
    run flash-4k "$bin" --model "$fs" --context 4096 --gen 32
    run pro-4k "$bin" --model "$ps" --context 4096 --gen 16
  done
done
for ((i = 0; i < pairs; ++i)); do
  for bin in "${bins[@]}"; do
    run pair-4k "$bin" --model "$fs" --context 4096 --gen 8 --repeat 2
    run pair-64k "$bin" --model "$fs" --context 65536 --gen 8 --repeat 2
  done
done

echo
echo "medians (ratio: decode bandwidth / probe; prefill: share of the dot-product peak, nominal or measured; ms per token)"
sort -k1,1 -k2,2 "$out" | awk '
  { key = $1 " " $2; r[key] = r[key] " " $4; m[key] = m[key] " " $6; n[key]++ }
  function median(list,   a, k, i, j, t) {
    k = split(list, a, " ")
    for (i = 1; i <= k; ++i) for (j = i + 1; j <= k; ++j) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END { for (key in n) printf "  %-28s ratio %.3f  ms %7.1f  (%d runs)\n", key, median(r[key]), median(m[key]), n[key] }' |
  sort
