#!/usr/bin/env bash
# The main job: fetch Fashion-MNIST, pre-train SimCLR (5000 steps) without labels, and
# compare kNN / linear-probe accuracy with a randomly initialised encoder.
# Extra arguments go to `ssl-vision demo` (e.g. --steps 200, --device cuda).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup-libtorch.sh
bash datasets/fetch-fashion-mnist.sh
cargo run --release --locked -p ssl-vision -- demo --data datasets/cache/fashion-mnist --out runs/fashion-mnist "$@"
