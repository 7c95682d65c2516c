#!/usr/bin/env bash
# DESOM fits (many small libtorch ops: the case where waiting threads matter most) alone and
# beside one CPU-bound process, under three thread policies:
#   spin-2:  2 libtorch threads, OpenMP's default wait policy (threads spin while waiting)
#   yield-2: 2 threads, OMP_WAIT_POLICY=PASSIVE (the CLIs' default: waiting threads sleep)
#   auto:    --threads 0 (the cores free at start) with PASSIVE: the CLIs' defaults
# Prints a markdown table of median wall seconds over RUNS runs. Uses generated spectra
# (speed only). Needs the release binary: cargo build --release -p ssl-spectra.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/target/release/ssl-spectra"
runs="${RUNS:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work/spectra.csv" <<'PY'
import math, random, sys
random.seed(1)
L = 400
rows = ["name," + ",".join(str(4000 + 2 * i) for i in range(L))]
for n in range(600):
    t = n % 3
    rows.append(f"s{n}," + ",".join(f"{(1 + 0.3 * (t - 1) * (i / L - 0.5)) * (1 - 0.5 * math.exp(-((i / L - 0.25 - 0.25 * t) / 0.03) ** 2)) + 0.01 * random.random():.5f}" for i in range(L)))
open(sys.argv[1], "w").write("\n".join(rows) + "\n")
PY
fit() { # policy compete -> seconds
  local env=() threads=2
  case "$1" in spin-2) env=(OMP_WAIT_POLICY=) ;; yield-2) env=(OMP_WAIT_POLICY=PASSIVE) ;; auto) threads=0 ;; esac
  local comp=""
  if [ "$2" = 1 ]; then sh -c 'while :; do :; done' & comp=$!; sleep 0.3; fi
  rm -rf "$work/out"
  local s e
  s=$(date +%s.%N)
  env "${env[@]}" "$bin" fit --data "$work/spectra.csv" --out "$work/out" --steps 400 --pretrain-steps 100 \
      --threads "$threads" --device cpu --quiet >/dev/null 2>&1
  e=$(date +%s.%N)
  if [ -n "$comp" ]; then kill "$comp"; wait "$comp" 2>/dev/null || true; fi
  python3 -c "print(f'{$e - $s:.1f}')"
}
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.1f}')" "$@"; }
echo "| policy | alone (s) | beside one busy process (s) | slowdown |"
echo "|---|---|---|---|"
for policy in ${POLICIES:-spin-2 yield-2 auto}; do
  a=(); b=()
  for _ in $(seq "$runs"); do a+=("$(fit "$policy" 0)"); b+=("$(fit "$policy" 1)"); done
  ma=$(median "${a[@]}"); mb=$(median "${b[@]}")
  echo "| $policy | $ma | $mb | $(python3 -c "print(f'{$mb / $ma:.2f}x')") |"
done
