#!/usr/bin/env bash
# Make real medical volumes available under datasets/cache/medical/, from pinned registry
# packages:
#
#   what                                   from                                   version                licence
#   colin27/  Colin27 T1 MRI (ch2, ch2bet,  Debian bookworm package mricron-data   1.2.20211006+dfsg-4    BSD-3-clause (the
#             ch2better) and label maps on                                                                package's copyright
#             its grid (AAL 116 regions,                                                                  file, "Files: *")
#             Brodmann) or on a 182 x 218 x
#             182 grid (Harvard-Oxford
#             cortical, JHU white matter)
#   dicom/    CT_small.dcm, MR_small.dcm    PyPI wheel pydicom                     3.0.2                  MIT (pydicom's LICENSE)
#             (NEMA WG04 slices, downsized),
#             rtstruct.dcm (RT structure set)
#   dicom/    liver.dcm (DICOM SEG, 3       PyPI wheel pydicom-data                1.0.0                  MIT
#             frames, "Liver"), emri_small
#             (multi-frame MR)
#   dicom/    dicompyler_ct.dcm (one CT       PyPI sdist dicompyler-core             0.5.6                  BSD-3-clause (its
#             slice), dicompyler_rtss.dcm                                                                 LICENSE)
#             (RT structure set, 10 ROIs)
#
# Layout: colin27/<name>.nii.gz (+ <name>.nii.txt label names where the package has them),
# dicom/<name>.dcm, LICENSE-NOTE; files are copied byte for byte and checked against
# datasets/medical.manifest (sha256sum lines).
#
# Usage:
#   bash datasets/fetch-medical.sh                    # fetch, or say 'already' when present
#   bash datasets/fetch-medical.sh --write-manifest   # maintainers: rewrite the manifest
# Needs apt-get (package lists holding the pinned version: `apt-get update` once), dpkg-deb,
# python3 with pip, unzip and sha256sum; no root, nothing is installed into the system.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
manifest="$here/medical.manifest"
dest="$root/datasets/cache/medical"
mricron="mricron-data=1.2.20211006+dfsg-4"
templates=(ch2.nii.gz ch2bet.nii.gz ch2better.nii.gz aal.nii.gz aal.nii.txt brodmann.nii.gz
    HarvardOxford-cort-maxprob-thr0-1mm.nii.gz JHU-WhiteMatter-labels-1mm.nii.gz JHU-WhiteMatter-labels-1mm.nii.txt)
pydicom_files=(CT_small.dcm MR_small.dcm rtstruct.dcm)
pydicom_data_files=(liver.dcm emri_small.dcm)
write_manifest=0
case "${1:-}" in
    "") ;;
    --write-manifest) write_manifest=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "medical: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

license_note() {
    cat <<'EOF'
Medical volumes in this folder, copied unchanged by datasets/fetch-medical.sh:

colin27/   from the Debian package mricron-data 1.2.20211006+dfsg-4 (/usr/share/mricron/templates/):
           the Colin27 ("ch2") single-subject T1 MRI of the Montreal Neurological Institute, its
           brain-extracted versions, and atlas label maps (AAL, Brodmann, Harvard-Oxford cortical
           max-probability at 0%, JHU white-matter labels) as distributed with MRIcron by Chris
           Rorden. Licence as the package's copyright file gives it: BSD-3-clause, Copyright
           2006-2010 Chris Rorden. Cite the atlases' authors when using them (AAL: Tzourio-Mazoyer
           et al. 2002; Harvard-Oxford: Desikan et al. 2006 / FSL; JHU: Mori et al. 2005).
dicom/     CT_small.dcm, MR_small.dcm, rtstruct.dcm from the pydicom 3.0.2 wheel
           (pydicom/data/test_files/), MIT licence, Copyright 2008-2020 Darcy Mason and pydicom
           contributors; CT_small and MR_small are downsized from the NEMA WG04 sample data sets.
           liver.dcm and emri_small.dcm from the pydicom-data 1.0.0 wheel
           (data_store/data/), MIT licence.
           dicompyler_ct.dcm and dicompyler_rtss.dcm are tests/testdata/example_data/ct.0.dcm and
           rtss.dcm of the dicompyler-core 0.5.6 source distribution, BSD-3-clause, Copyright
           2009-2023 Aditya Panchal and dicompyler-core contributors.
EOF
}

verify() {
    local dir="$1"
    [[ -f "$manifest" ]] || { echo "medical: no manifest at $manifest" >&2; return 1; }
    (cd "$dir" && sha256sum --quiet -c "$manifest" >/dev/null 2>&1) || { echo "medical: files differ from $manifest" >&2; return 1; }
    diff -q <(license_note) "$dir/LICENSE-NOTE" >/dev/null 2>&1 || { echo "medical: LICENSE-NOTE is missing or stale" >&2; return 1; }
}

if [[ $write_manifest == 0 ]] && [[ -d "$dest" ]] && verify "$dest" 2>/dev/null; then
    echo "medical: already at $dest"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$dest.staging"
rm -rf "$stage"
mkdir -p "$stage/colin27" "$stage/dicom"
echo "medical: downloading $mricron"
(cd "$work" && apt-get download -q "$mricron" >/dev/null)
dpkg-deb -x "$work"/mricron-data_*.deb "$work/mricron"
for f in "${templates[@]}"; do
    cp "$work/mricron/usr/share/mricron/templates/$f" "$stage/colin27/$f"
done
echo "medical: downloading the pydicom 3.0.2 and pydicom-data 1.0.0 wheels"
python3 -m pip download -q --no-deps -d "$work" pydicom==3.0.2 pydicom-data==1.0.0
unzip -q -o "$work"/pydicom-3.0.2-*.whl 'pydicom/data/test_files/*' -d "$work/pydicom"
unzip -q -o "$work"/pydicom_data-1.0.0-*.whl 'data_store/data/*' -d "$work/pydicom-data"
for f in "${pydicom_files[@]}"; do cp "$work/pydicom/pydicom/data/test_files/$f" "$stage/dicom/$f"; done
for f in "${pydicom_data_files[@]}"; do cp "$work/pydicom-data/data_store/data/$f" "$stage/dicom/$f"; done
echo "medical: downloading the dicompyler-core 0.5.6 source distribution"
python3 -m pip download -q --no-deps --no-binary :all: -d "$work" dicompyler-core==0.5.6
tar -xzf "$work"/dicompyler-core-0.5.6.tar.gz -C "$work" dicompyler-core-0.5.6/tests/testdata/example_data
cp "$work/dicompyler-core-0.5.6/tests/testdata/example_data/ct.0.dcm" "$stage/dicom/dicompyler_ct.dcm"
cp "$work/dicompyler-core-0.5.6/tests/testdata/example_data/rtss.dcm" "$stage/dicom/dicompyler_rtss.dcm"
license_note > "$stage/LICENSE-NOTE"
if [[ $write_manifest == 1 ]]; then
    (cd "$stage" && find colin27 dicom -type f | LC_ALL=C sort | xargs sha256sum) > "$manifest"
    echo "medical: wrote $manifest"
fi
verify "$stage"
rm -rf "$dest"
mv "$stage" "$dest"
echo "medical: fetched and verified at $dest ($(find "$dest" -type f | wc -l) files)"
