#!/usr/bin/env bash
# Benchmarks against PyTorch / torchvision / lightly (and MiniSom) from the same virtual
# environment. Python's torch needs the complete wheel (its CUDA libraries included, the
# only torch 2.13.0 build on PyPI), so this installs it; the Rust side does not need it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
SSL_PYTHON_TORCH=1 bash scripts/setup-libtorch.sh
# lightly for the whole-epoch reference (pinned with the torch already there).
.venv/bin/python -m pip install -q lightly==1.6.0 torch==2.13.0 torchvision==0.28.0
bash datasets/fetch-fashion-mnist.sh
bash datasets/fetch-photos.sh
# Augmentation, decode + augment of photographs, the training step (both layouts, GFLOP/s
# against the matmul peak) and a whole epoch from PNG files.
cargo run --release --locked -p ssl-vision -- bench --python .venv/bin/python --json runs/bench.json "$@"
# Clips decoded from video files (FFmpeg, the `video` feature) against PyAV and decord.
bash scripts/setup-video.sh
bash datasets/fetch-video.sh
.venv/bin/python -m pip install -q av==18.1.0 decord==0.6.0
cargo run --release --locked -p ssl-vision --features video -- bench --python .venv/bin/python --which video-files \
    --json runs/bench-video-files.json
# The training step alone and beside one CPU-bound process (threads chosen automatically).
cargo run --release --locked -p ssl-vision -- bench --python .venv/bin/python --which contention --threads 0 \
    --batch 128 --steps 4 --warmup 1 --json runs/bench-contention.json
# The SOM benchmark: real MILES spectra against MiniSom.
.venv/bin/python -m pip install -q minisom
bash datasets/fetch-spectra.sh
cargo run --release --locked -p ssl-spectra -- bench --python .venv/bin/python --json runs/spectra-bench.json
# Kaldi filterbanks: real speech against kaldi-native-fbank and torchaudio's Kaldi module.
.venv/bin/python -m pip install -q kaldi-native-fbank==1.23.0 torchaudio==2.11.1
bash datasets/fetch-speech.sh
cargo run --release --locked -p ssl-audio -- bench-features --python .venv/bin/python --json runs/audio-bench.json
# The speaker training step (SSReg on a small ECAPA-TDNN) against the same step in PyTorch.
cargo run --release --locked -p ssl-audio -- bench-speaker-step --python .venv/bin/python --json runs/speaker-step-bench.json
# Medical volumes: NIfTI reading + patches + augmentation against nibabel + MONAI, and the
# U-Net training step against the same model in PyTorch.
.venv/bin/python -m pip install -q monai==1.6.1 nibabel==5.4.2
bash datasets/fetch-medical.sh
cargo run --release --locked -p ssl-medical -- bench --python .venv/bin/python --json runs/medical-bench.json
