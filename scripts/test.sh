#!/usr/bin/env bash
# The test command: installs libtorch when missing, builds, and runs every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup-libtorch.sh
# Tests pin libtorch to two threads: the CI machine has two cores and tests run in parallel.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
# Hygiene that CI enforces: the committed rustfmt.toml, and clippy with warnings as errors.
cargo fmt --all --check
cargo fmt --check --manifest-path examples/outside/Cargo.toml
cargo clippy --workspace --all-targets --locked -- -D warnings
# No unused dependencies (cargo-machete, installed into .tools/ on first use).
if [ ! -x .tools/bin/cargo-machete ]; then
    cargo install --quiet --locked --root .tools cargo-machete --version 0.9.2
fi
.tools/bin/cargo-machete
cargo test --workspace --locked "$@"
# ssl-vision's `video` feature (video files through FFmpeg): scripts/setup-video.sh installs
# FFmpeg's development files. Where that is impossible (no apt, no root) the step says so;
# SSL_REQUIRE_VIDEO=1 makes that a failure.
if bash scripts/setup-video.sh; then
    # The real clips (H.264 MP4, MS-MPEG4 / MPEG-4 / Cinepak AVI) for the full-length decode check.
    bash datasets/fetch-video.sh || echo "test: datasets/fetch-video.sh failed; the real-clip decode check will say it is skipped" >&2
    cargo clippy -p ssl-vision --features video --all-targets --locked -- -D warnings
    cargo test -p ssl-vision --features video --locked --test video_files
elif [ "${SSL_REQUIRE_VIDEO:-0}" = 1 ]; then
    exit 1
else
    echo "test: ssl-vision's video feature NOT tested (FFmpeg's development files could not be installed)" >&2
fi
# The dependency story as a user's project lives it: a project outside the workspace
# that depends on ssl-core and ssl-spectra by path, links libtorch through ssl-link's
# rpath (no LD_LIBRARY_PATH), trains a small map and checks its kNN accuracy. It builds
# into this target folder, so what the tests built is reused.
(cd examples/outside && LIBTORCH="$root/libtorch" CARGO_TARGET_DIR="$root/target" cargo run --locked --quiet)
