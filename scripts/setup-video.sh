#!/usr/bin/env bash
# System libraries of ssl-vision's `video` feature (video files decoded by FFmpeg through
# the ffmpeg-next crate): FFmpeg's development files, pkg-config, and libclang for the
# generated bindings. Installs them with apt (Debian / Ubuntu) when they are missing.
# Idempotent; exits non-zero when they are missing and cannot be installed here.
#
#   bash scripts/setup-video.sh && cargo build --release -p ssl-vision --features video
set -euo pipefail
packages=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libclang-dev pkg-config)
have() {
    command -v pkg-config >/dev/null 2>&1 &&
        pkg-config --exists libavcodec libavformat libavutil libswscale &&
        ldconfig -p 2>/dev/null | grep -q 'libclang'
}
if have; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-video: no apt-get here; install FFmpeg's development files (${packages[*]}) with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=sudo
    else
        echo "setup-video: installing ${packages[*]} needs root (or password-less sudo)" >&2
        exit 1
    fi
fi
echo "setup-video: installing ${packages[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
have || { echo "setup-video: FFmpeg's development files are still not found by pkg-config" >&2; exit 1; }
