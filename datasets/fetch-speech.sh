#!/usr/bin/env bash
# Make real recorded speech available under datasets/cache/speech/, one folder per speaker
# (the folder name is the speaker), taken from six Debian main packages of telephone prompts,
# all 8 kHz mono 16-bit PCM WAV, pinned to these versions (Debian bookworm):
#
#   speaker folder        package                          version                   licence
#   en_US_f_Allison       asterisk-core-sounds-en-wav      1.6.1-1                   CC-BY-SA-3.0
#   es_MX_f_Allison       asterisk-core-sounds-es-wav      1.6.1-1                   CC-BY-SA-3.0
#   fr_CA_f_June          asterisk-core-sounds-fr-wav      1.6.1-1                   CC-BY-SA-3.0
#   it_IT_m_Carlo         asterisk-core-sounds-it-wav      1.6.1-1                   CC-BY-3.0
#   ru_RU_f_IvrvoiceRU    asterisk-core-sounds-ru-wav      1.6.1-1                   CC-BY-3.0
#   it_IT_f_Menardi       asterisk-prompt-it-menardi-wav   1:1.4.22+mm20110907-3.1   CC-BY-SA-3.0 IT
#
# Licences as the packages' /usr/share/doc/<package>/copyright files give them: Allison Smith
# (en, es) and June Wallack (fr) CC-BY-SA-3.0 (Unported); Carlo Flora (it) and the ru prompts
# (Maxim Topal, ivrvoice.ru) CC-BY-3.0 (Unported); Marco Menardi and Paola Dal Zot CC BY-SA 3.0
# Italia, whose authors ask that end users be shown visibly that the sounds are theirs, with
# http://www.voip.ammdomus.it. The script writes the attributions to
# datasets/cache/speech/LICENSE-NOTE; keep it with any copy of the files.
#
# WARNING for speaker verification / identification: es_MX_f_Allison and en_US_f_Allison are
# the SAME person (Allison Smith) recorded in two languages. Both folders are kept, but they
# are one speaker: never put them on opposite sides of a same/different-speaker pair, and
# never train on one while testing on the other as if it were an unseen speaker. There are
# 6 folders but 5 distinct voices. Each speaker's prompts are also mostly translations of one
# script (the Asterisk core prompts), so utterances are parallel across languages.
#
# Layout: datasets/cache/speech/<speaker>/<utterance>.wav, with the package's subfolders
# flattened into the speaker folder by replacing '/' with '-' (digits/1.wav -> digits-1.wav,
# phonetic/ICAO/alfa.wav -> phonetic-ICAO-alfa.wav). Files are copied byte for byte. Left out,
# because they are not speech: the silence/ folders (1-10 s of silence), the sound effects
# that every package carries (beep, beeperr, ascending-2tone, descending-2tone,
# confbridge-join, confbridge-leave, tt-monkeys) and any WAV with no samples
# (ru_RU_f_IvrvoiceRU/is.wav in 1.6.1-1).
#
# Usage:
#   bash datasets/fetch-speech.sh                    # fetch, or say 'already' when present
#   bash datasets/fetch-speech.sh --write-manifest   # maintainers: rewrite datasets/speech.manifest
#                                                    # from freshly unpacked packages, then install
# Needs apt-get (with package lists that hold the pinned versions: `apt-get update` once),
# dpkg-deb, python3 and sha256sum; no root, nothing is installed into the system.
#
# Idempotent: when every file matches datasets/speech.manifest (sha256sum lines of
# `<speaker>/<file>.wav`), no other WAV is there and LICENSE-NOTE is current, it does nothing.
# Otherwise it downloads the .debs with `apt-get download` into a temporary folder, unpacks
# them with `dpkg -x`, checks every kept file is a RIFF WAV (8 kHz, mono, 16-bit PCM) with
# python's wave module, copies them into a staging folder next to the cache, verifies that
# against the manifest and only then swaps it in for the cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
manifest="$here/speech.manifest"
cache="$root/datasets/cache"
dest="$cache/speech"
# package  version  speaker folder (under /usr/share/asterisk/sounds/)
packages=(
    "asterisk-core-sounds-en-wav 1.6.1-1 en_US_f_Allison"
    "asterisk-core-sounds-es-wav 1.6.1-1 es_MX_f_Allison"
    "asterisk-core-sounds-fr-wav 1.6.1-1 fr_CA_f_June"
    "asterisk-core-sounds-it-wav 1.6.1-1 it_IT_m_Carlo"
    "asterisk-core-sounds-ru-wav 1.6.1-1 ru_RU_f_IvrvoiceRU"
    "asterisk-prompt-it-menardi-wav 1:1.4.22+mm20110907-3.1 it_IT_f_Menardi"
)
write_manifest=0
case "${1:-}" in
    "") ;;
    --write-manifest) write_manifest=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "speech: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

license_note() {
    cat <<'EOF'
Speech recordings in this folder (one folder per speaker), copied unchanged except for their
file names (subfolders flattened: digits/1.wav -> digits-1.wav) by datasets/fetch-speech.sh
from Debian packages (files under /usr/share/asterisk/sounds/<speaker>/). Silence files,
shared sound effects and empty files were left out. Licences and credits as given in each
package's /usr/share/doc/<package>/copyright:

en_US_f_Allison     asterisk-core-sounds-en-wav 1.6.1-1
                    Recorded by Allison Smith (http://www.theivrvoice.com), (c) 2003-2010
                    Allison Smith; financial contributions by Digium, Inc.
                    Licence: CC-BY-SA-3.0 (https://creativecommons.org/licenses/by-sa/3.0/)
es_MX_f_Allison     asterisk-core-sounds-es-wav 1.6.1-1
                    Recorded by Allison Smith (same person as en_US_f_Allison), (c) 2003-2010
                    Allison Smith; financial contributions by Digium, Inc.
                    Licence: CC-BY-SA-3.0 (https://creativecommons.org/licenses/by-sa/3.0/)
fr_CA_f_June        asterisk-core-sounds-fr-wav 1.6.1-1
                    Recorded by June Wallack (http://www.junewallack.com), (c) 2006-2008;
                    French translation by Clod Patry, Kristopher Lalletti and June Wallack.
                    Licence: CC-BY-SA-3.0 (https://creativecommons.org/licenses/by-sa/3.0/)
it_IT_m_Carlo       asterisk-core-sounds-it-wav 1.6.1-1
                    Recorded by Carlo Flora (http://www.carloflora.com), (c) 2012 Carlo Flora,
                    http://www.segreterietelefoniche.it; translated by Silvia Petrin.
                    Licence: CC-BY-3.0 (https://creativecommons.org/licenses/by/3.0/)
ru_RU_f_IvrvoiceRU  asterisk-core-sounds-ru-wav 1.6.1-1
                    Provided by Maxim Topal, http://www.ivrvoice.ru, (c) 2010.
                    Licence: CC-BY-3.0 (https://creativecommons.org/licenses/by/3.0/)
it_IT_f_Menardi     asterisk-prompt-it-menardi-wav 1:1.4.22+mm20110907-3.1
                    Voice prompts (c) 2006-2011 Marco Menardi and Paola Dal Zot,
                    http://www.voip.ammdomus.it (the authors ask that end users be shown
                    visibly that the sounds were made by them, with this address).
                    Licence: CC BY-SA 3.0 Italia
                    (https://creativecommons.org/licenses/by-sa/3.0/it/)

The English texts of the prompts are Digium's (http://www.digium.com), from which the other
languages were translated.

Speaker verification: es_MX_f_Allison and en_US_f_Allison are the same person. The six
folders hold five distinct voices.
EOF
}

# wav_list DIR: every WAV under DIR as a relative path, sorted in the C locale.
wav_list() { (cd "$1" && find . -type f -name '*.wav' -printf '%P\n' | LC_ALL=C sort); }

# verify DIR: returns 0 when DIR holds exactly the manifest's files, all matching, and a
# current LICENSE-NOTE; otherwise prints the problem (to stderr) and returns 1.
verify() {
    local dir="$1"
    [[ -d "$dir" ]] || { echo "speech: $dir does not exist" >&2; return 1; }
    [[ -s "$manifest" ]] || { echo "speech: $manifest is missing or empty" >&2; return 1; }
    if ! (cd "$dir" && sha256sum --quiet --strict -c "$manifest" >&2); then
        echo "speech: files in $dir do not match $manifest" >&2
        return 1
    fi
    if ! diff -q <(awk '{print $2}' "$manifest" | LC_ALL=C sort) <(wav_list "$dir") >/dev/null; then
        echo "speech: $dir holds WAV files that $manifest does not list" >&2
        return 1
    fi
    if ! cmp -s <(license_note) "$dir/LICENSE-NOTE"; then
        echo "speech: $dir/LICENSE-NOTE is missing or out of date" >&2
        return 1
    fi
}

if [[ $write_manifest == 0 ]] && verify "$dest" 2>/dev/null; then
    echo "speech: already at $dest ($(wc -l <"$manifest") files, ${#packages[@]} speaker folders)"
    exit 0
fi

mkdir -p "$cache"
dl="$(mktemp -d)"
stage="$(mktemp -d -p "$cache" .speech-stage.XXXXXX)"
old=""
trap 'rm -rf "$dl" "$stage" ${old:+"$old"}' EXIT

apt_opts=(-q)
# As root, apt would try to download as the _apt user, who cannot write into our temp folder.
[[ $EUID == 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
specs=()
for line in "${packages[@]}"; do
    read -r pkg ver spk <<<"$line"
    echo "speech: downloading $pkg=$ver"
    if ! (cd "$dl" && apt-get "${apt_opts[@]}" download "$pkg=$ver" >/dev/null); then
        echo "speech: apt-get could not download $pkg=$ver (run 'apt-get update'; the pinned" \
             "version must be in the configured Debian suite)" >&2
        exit 1
    fi
    debs=("$dl/${pkg}_"*.deb)
    [[ ${#debs[@]} == 1 && -f "${debs[0]}" ]] || { echo "speech: no single .deb for $pkg in $dl" >&2; exit 1; }
    got="$(dpkg-deb -f "${debs[0]}" Version)"
    [[ "$got" == "$ver" ]] || { echo "speech: $pkg is version $got, want $ver" >&2; exit 1; }
    dpkg -x "${debs[0]}" "$dl/x-$pkg"
    src="$dl/x-$pkg/usr/share/asterisk/sounds/$spk"
    [[ -d "$src" ]] || { echo "speech: $pkg has no /usr/share/asterisk/sounds/$spk" >&2; exit 1; }
    specs+=("$spk=$src")
done

python3 - "$stage" "${specs[@]}" <<'PY'
import os, shutil, sys, wave

stage, specs = sys.argv[1], sys.argv[2:]
# Not speech: the same sound effects in every package.
effects = {"beep.wav", "beeperr.wav", "ascending-2tone.wav", "descending-2tone.wav",
           "confbridge-join.wav", "confbridge-leave.wav", "tt-monkeys.wav"}
total_n, total_s = 0, 0.0
for spec in specs:
    spk, src = spec.split("=", 1)
    out = os.path.join(stage, spk)
    os.makedirs(out)
    n, secs, skipped = 0, 0.0, []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            if rel.split(os.sep)[0] == "silence" or rel in effects:
                continue
            if not name.endswith(".wav") or os.path.islink(path):
                sys.exit(f"speech: unexpected file {spk}/{rel}")
            try:
                with wave.open(path, "rb") as w:
                    fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getcomptype())
                    frames = w.getnframes()
            except (wave.Error, EOFError) as e:
                sys.exit(f"speech: {spk}/{rel} is not a readable RIFF WAV: {e}")
            if fmt != (8000, 1, 2, "NONE"):
                sys.exit(f"speech: {spk}/{rel} is {fmt}, want 8000 Hz mono 16-bit PCM")
            if frames == 0:
                skipped.append(rel)
                continue
            flat = rel.replace(os.sep, "-")
            target = os.path.join(out, flat)
            if os.path.exists(target):
                sys.exit(f"speech: two files flatten to {spk}/{flat}")
            shutil.copyfile(path, target)
            n += 1
            secs += frames / 8000
    note = f" (left out, no samples: {', '.join(skipped)})" if skipped else ""
    print(f"speech:   {spk:<20} {n:4d} files {secs / 60:6.1f} min{note}")
    total_n += n
    total_s += secs
print(f"speech:   {'total':<20} {total_n:4d} files {total_s / 60:6.1f} min ({total_s / 3600:.2f} h)")
PY
license_note >"$stage/LICENSE-NOTE"

if [[ $write_manifest == 1 ]]; then
    (cd "$stage" && wav_list . | xargs -d '\n' sha256sum) >"$manifest.tmp"
    mv "$manifest.tmp" "$manifest"
    echo "speech: wrote $manifest ($(wc -l <"$manifest") files)"
fi
if ! verify "$stage"; then
    echo "speech: the unpacked files do not match $manifest" >&2
    exit 1
fi
if [[ -e "$dest" ]]; then
    old="$(mktemp -d -p "$cache" .speech-old.XXXXXX)"
    mv "$dest" "$old/"
fi
mv "$stage" "$dest"
chmod 755 "$dest"
echo "speech: fetched and verified at $dest ($(wc -l <"$manifest") files, ${#packages[@]} speaker folders)"
