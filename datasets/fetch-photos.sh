#!/usr/bin/env bash
# Make real photographs available under datasets/cache/photos/, taken from the PyPI wheel
# scikit-image 0.26.0 (BSD-3-Clause; the photos' own licences are in its skimage/data/README
# and the scikit-image documentation): the nine colour photographs it ships, six PNG and
# three JPEG, 300x451 to 1411x1411 pixels. Used by the decode + augment benchmark.
#
# Idempotent: when every file matches datasets/photos.manifest (sha256sum lines) it does
# nothing. Otherwise it downloads the wheel with pip into a temporary folder, extracts only
# these files into a staging folder, verifies them and only then replaces the cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
manifest="$here/photos.manifest"
dest="$root/datasets/cache/photos"
wheel=scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl
photos=(astronaut.png chelsea.png coffee.png ihc.png motorcycle_left.png motorcycle_right.png
        hubble_deep_field.jpg retina.jpg rocket.jpg)

if [[ -d "$dest" ]] && (cd "$dest" && sha256sum --quiet --strict -c "$manifest" >/dev/null 2>&1); then
    echo "photos: already at $dest"
    exit 0
fi
dl="$(mktemp -d)"
stage="$(mktemp -d)"
trap 'rm -rf "$dl" "$stage"' EXIT
echo "photos: downloading $wheel from PyPI"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$dl" scikit-image==0.26.0
[[ -f "$dl/$wheel" ]] || { echo "photos: pip did not produce $wheel" >&2; exit 1; }
python3 - "$dl/$wheel" "$stage" "${photos[@]}" <<'PY'
import sys, zipfile
wheel, stage, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for n in names:
        with open(f"{stage}/{n}", "wb") as f:
            f.write(z.read(f"skimage/data/{n}"))
PY
if ! (cd "$stage" && sha256sum --quiet --strict -c "$manifest"); then
    echo "photos: the extracted files do not match $manifest" >&2
    exit 1
fi
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$stage" "$dest"
chmod 755 "$dest"
echo "photos: fetched and verified at $dest (${#photos[@]} files)"
