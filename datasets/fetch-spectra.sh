#!/usr/bin/env bash
# Make real spectra available under datasets/cache/spectra/, taken from the PyPI wheel
# sdss-mangadap 4.5.0 (SDSS MaNGA Data Analysis Pipeline, BSD-3-Clause):
#   miles/   984 MILES stellar spectra + MILES_params.db + paramsMILES_v9.1.txt + README
#            + params.csv (file,teff,logg,feh; written here, see below)
#   stelib/  255 STELIB stellar spectra + README
#            + params.csv (file,teff,logg,feh; from the TEFF/LOG_G/FE_H header cards)
#   manga/   MaNGA_test_spectra.fits.gz (8 spaxels) + MaNGA_multicomp_test_spectra.fits.gz (3)
#   ssp/     200 MIUSCAT SSP model spectra (4 [M/H] x 50 ages) + README
# Layouts are described in docs/spectra-data.md.
#
# Idempotent: when every directory matches datasets/spectra.manifest it does nothing.
# Otherwise it takes the wheel from datasets/cache/spectra/.wheel-cache/ (or downloads it
# there with pip), extracts only the members above into a staging directory, writes the
# CSVs, verifies the staging copy against the manifest and only then replaces the cache.
#
# Manifest line per directory: `name  files  total_bytes  digest`, where digest is the
# sha256 of the `sha256sum` listing ("<sha256>  <relative path>" lines) of every file in
# the directory, sorted by path in the C locale. `fetch-spectra.sh --print-manifest`
# prints these lines for the current cache (used once to write the committed manifest).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
manifest="$here/spectra.manifest"
dest="$root/datasets/cache/spectra"
wheel_cache="$dest/.wheel-cache"
wheel_name=sdss_mangadap-4.5.0-py3-none-any.whl
wheel_sha256=b8478bb24c32fe736fa6a2881805458719281862313838f8b032f3c10527ff34
dirs=(miles stelib manga ssp)
py=python3
dl=""
stage=""
trap 'rm -rf "$dl" "$stage"' EXIT

# dir_line NAME DIR: prints the manifest line for DIR (files, bytes, digest).
dir_line() {
    local name="$1" dir="$2" files bytes digest
    [[ -d "$dir" ]] || { echo "$name  0  0  -"; return; }
    files=$(cd "$dir" && find . -type f | wc -l)
    bytes=$(cd "$dir" && find . -type f -printf '%s\n' | awk '{s+=$1} END {printf "%d", s}')
    digest=$(cd "$dir" && find . -type f -printf '%P\n' | LC_ALL=C sort \
        | xargs -r -d '\n' sha256sum | sha256sum | cut -d' ' -f1)
    echo "$name  $files  $bytes  $digest"
}

# verify_dir NAME DIR: compares DIR with its manifest line; prints the problem, returns 1.
verify_dir() {
    local name="$1" dir="$2" want got
    want=$(awk -v n="$name" '$1 == n {print $1"  "$2"  "$3"  "$4}' "$manifest")
    if [[ -z "$want" ]]; then echo "spectra: no line for '$name' in $manifest" >&2; return 1; fi
    got=$(dir_line "$name" "$dir")
    if [[ "$got" != "$want" ]]; then
        echo "spectra: directory '$name' ($dir) does not match the manifest" >&2
        echo "  want: $want" >&2
        echo "  got:  $got" >&2
        return 1
    fi
}

verify_all() {
    local base="$1" n ok=0
    for n in "${dirs[@]}"; do verify_dir "$n" "$base/$n" || ok=1; done
    return $ok
}

if [[ "${1:-}" == "--print-manifest" ]]; then
    for n in "${dirs[@]}"; do dir_line "$n" "$dest/$n"; done
    exit 0
fi

if verify_all "$dest" 2>/dev/null; then
    echo "spectra: present and verified at $dest/{miles,stelib,manga,ssp}"
    exit 0
fi

mkdir -p "$dest" "$wheel_cache"
wheel="$wheel_cache/$wheel_name"
if [[ -f "$wheel" && "$(sha256sum "$wheel" | cut -d' ' -f1)" != "$wheel_sha256" ]]; then
    echo "spectra: cached wheel has the wrong sha256; fetching it again" >&2
    rm -f "$wheel"
fi
if [[ ! -f "$wheel" ]]; then
    dl="$(mktemp -d "$wheel_cache/.dl.XXXXXX")"
    echo "spectra: downloading sdss-mangadap==4.5.0 (about 122 MB) with pip"
    "$py" -m pip download --no-deps --only-binary=:all: -d "$dl" "sdss-mangadap==4.5.0"
    if [[ ! -f "$dl/$wheel_name" ]]; then
        echo "spectra: pip did not produce $wheel_name" >&2; exit 1
    fi
    if [[ "$(sha256sum "$dl/$wheel_name" | cut -d' ' -f1)" != "$wheel_sha256" ]]; then
        echo "spectra: downloaded wheel has an unexpected sha256 (want $wheel_sha256)" >&2
        exit 1
    fi
    mv -f "$dl/$wheel_name" "$wheel"
else
    echo "spectra: reusing $wheel"
fi

stage="$(mktemp -d "$dest/.staging.XXXXXX")"

# Extract the needed members (flattened into one directory per data set) and write the
# parameter CSVs. Standard library only.
"$py" - "$wheel" "$stage" <<'PY'
import os, re, sys, zipfile

wheel, stage = sys.argv[1], sys.argv[2]
T = "mangadap/data/spectral_templates/"
rules = [  # (target directory, regex on the member name; only files directly in the folder)
    ("miles", re.compile(T + r"miles/(MILES_res2\.50_star_m\d{4}V\.fits|MILES_params\.db|paramsMILES_v9\.1\.txt|README)")),
    ("stelib", re.compile(T + r"stelib/(STELIB_v3\.2_[^/]+\.fits|README)")),
    ("manga", re.compile(r"mangadap/data/tests/(MaNGA_test_spectra\.fits\.gz|MaNGA_multicomp_test_spectra\.fits\.gz)")),
    ("ssp", re.compile(T + r"miuscat/(Iun1\.30Z[mp]\d\.\d\dT\d\d\.\d{4}\.fits|README)")),
]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        for target, rx in rules:
            m = rx.fullmatch(info.filename)
            if m:
                out = os.path.join(stage, target, m.group(1))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with z.open(info) as src, open(out, "wb") as dst:
                    dst.write(src.read())
                break

def write_csv(path, rows):
    with open(path, "w", newline="\n") as f:
        f.write("file,teff,logg,feh\n")
        for r in sorted(rows):
            f.write(",".join(r) + "\n")

# MILES: MILES_params.db has '#' comment lines, then whitespace-separated
# `id teff logg feh` (id = the 4 digits of MILES_res2.50_star_m<id>V.fits). Missing values
# are 99999 (teff) and 9999 (logg, [Fe/H]). The upstream catalogue spells star 0221
# (HD044691A) as '022.'; it sits between 0219 and 0220, no other row names 0221, and
# m0221V.fits exists, so it is read as 0221. Rows without a FITS file (0970, which the
# DAP moved to omit/) are dropped.
miles = os.path.join(stage, "miles")
rows = []
MISSING = {"99999", "9999"}
for line in open(os.path.join(miles, "MILES_params.db")):
    if line.startswith("#") or not line.strip():
        continue
    sid, teff, logg, feh = line.split()
    if sid == "022.":
        sid = "0221"
    if not re.fullmatch(r"\d{4}", sid):
        sys.exit(f"spectra: unexpected MILES id {sid!r}")
    if MISSING & {teff, logg, feh}:
        continue
    for v in (teff, logg, feh):
        float(v)
    name = f"MILES_res2.50_star_m{sid}V.fits"
    if os.path.exists(os.path.join(miles, name)):
        rows.append((name, teff, logg, feh))
write_csv(os.path.join(miles, "params.csv"), rows)

# STELIB: the parameters are the TEFF / LOG_G / FE_H cards of each primary header;
# a missing value is the string '-'.
def header_cards(path):
    cards = {}
    with open(path, "rb") as f:
        while True:
            block = f.read(2880)
            if len(block) < 2880:
                sys.exit(f"spectra: no END card in {path}")
            for i in range(0, 2880, 80):
                card = block[i:i + 80].decode("ascii")
                key = card[:8].strip()
                if key == "END":
                    return cards
                if card[8:10] == "= " and key not in cards:
                    cards[key] = card[10:].split("/")[0].strip()

stelib = os.path.join(stage, "stelib")
rows = []
for name in os.listdir(stelib):
    if not name.endswith(".fits"):
        continue
    c = header_cards(os.path.join(stelib, name))
    vals = [c.get(k, "") for k in ("TEFF", "LOG_G", "FE_H")]
    try:
        [float(v) for v in vals]
    except ValueError:
        continue
    rows.append((name, *vals))
write_csv(os.path.join(stelib, "params.csv"), rows)
PY

if ! verify_all "$stage"; then
    echo "spectra: the extracted data do not match $manifest; cache left unchanged" >&2
    exit 1
fi
for n in "${dirs[@]}"; do
    rm -rf "$dest/$n"
    mv "$stage/$n" "$dest/$n"
done
verify_all "$dest"
echo "spectra: extracted and verified at $dest/{miles,stelib,manga,ssp}"
echo "  MILES params: $dest/miles/params.csv ($(($(wc -l < "$dest/miles/params.csv") - 1)) rows)"
echo "  STELIB params: $dest/stelib/params.csv ($(($(wc -l < "$dest/stelib/params.csv") - 1)) rows)"
