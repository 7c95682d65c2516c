#!/usr/bin/env bash
# More voices for speaker self-supervision: the English Asterisk prompts (the same script as
# datasets/fetch-speech.sh's en_US_f_Allison) spoken by four voices of the flite speech
# synthesiser (awb, kal16, rms, slt), written to datasets/cache/synthetic-voices/<voice>/<prompt>.wav (16 kHz mono
# 16-bit PCM), one folder per voice in the speaker layout of the audio crate.
#
# THESE VOICES ARE SYNTHETIC. Each is a model of one real speaker (CMU ARCTIC: awb, rms, slt;
# kal16 from the CMU Kal diphone set; flite's 8 kHz `kal` is the same speaker and is left out),
# so a folder is one speaker, but the audio is
# generated: label it synthetic in every report, and never mix it into a test of real
# speakers without saying so. The folder names say it: synthetic-flite-<voice>.
#
#   what                    Debian bookworm package        version   licence
#   flite, its voices       flite, libflite1               2.2-5     BSD-like (CMU)
#   prompt texts            asterisk-core-sounds-en        1.6.1-1   CC-BY-SA-3.0
#
# Usage:
#   bash datasets/fetch-synthetic-voices.sh            # all prompts, or 'already' when present
#   bash datasets/fetch-synthetic-voices.sh --limit 50 # the first 50 prompts of each voice
# Needs apt-get (`apt-get update` once), dpkg-deb and python3; no root, nothing installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cache="$root/datasets/cache"
dest="$cache/synthetic-voices"
voices=(awb kal16 rms slt)
limit=0
case "${1:-}" in
    "") ;;
    --limit) limit="${2:?--limit needs a number}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "synthetic-voices: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

if [[ -s "$dest/prompts.txt" && -s "$dest/LICENSE-NOTE" ]]; then
    want=$(wc -l <"$dest/prompts.txt")
    ok=1
    # Exactly the voice folders, no others (an earlier layout's are stale).
    [[ "$(cd "$dest" && find . -mindepth 1 -maxdepth 1 -type d -printf '%P\n' | LC_ALL=C sort | tr '\n' ' ')" == "$(printf 'synthetic-flite-%s ' "${voices[@]}")" ]] || ok=0
    for v in "${voices[@]}"; do
        [[ $(find "$dest/synthetic-flite-$v" -name '*.wav' -size +44c 2>/dev/null | wc -l) == "$want" ]] || ok=0
    done
    if [[ $ok == 1 ]]; then
        echo "synthetic-voices: already at $dest (${#voices[@]} voices x $want prompts)"
        exit 0
    fi
fi

mkdir -p "$cache"
dl="$(mktemp -d)"
stage="$(mktemp -d -p "$cache" .voices-stage.XXXXXX)"
old=""
trap 'rm -rf "$dl" "$stage" ${old:+"$old"}' EXIT
apt_opts=(-q)
[[ $EUID == 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
for spec in "flite 2.2-5" "libflite1 2.2-5" "asterisk-core-sounds-en 1.6.1-1"; do
    read -r pkg ver <<<"$spec"
    echo "synthetic-voices: downloading $pkg=$ver"
    if ! (cd "$dl" && apt-get "${apt_opts[@]}" download "$pkg=$ver" >/dev/null); then
        echo "synthetic-voices: apt-get could not download $pkg=$ver (run 'apt-get update')" >&2
        exit 1
    fi
    dpkg -x "$dl/${pkg}_"*.deb "$dl/x"
done

python3 - "$dl/x" "$stage" "$limit" "${voices[@]}" <<'PY'
import gzip, os, re, subprocess, sys, wave

x, stage, limit, voices = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
flite = os.path.join(x, "usr/bin/flite")
env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(x, "usr/lib/x86_64-linux-gnu"))
prompts = []
with gzip.open(os.path.join(x, "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"), "rt", encoding="utf-8", errors="replace") as f:
    for line in f:
        m = re.match(r"^([A-Za-z0-9_/\-]+):\s*(.*\S)", line)
        # Sound effects and prompts without words are in brackets or empty.
        if m and re.search(r"[A-Za-z]", m.group(2)) and not m.group(2).startswith("["):
            prompts.append((m.group(1).replace("/", "-"), m.group(2)))
if limit > 0:
    prompts = prompts[:limit]
with open(os.path.join(stage, "prompts.txt"), "w", encoding="utf-8") as f:
    f.writelines(f"{name}\t{text}\n" for name, text in prompts)
for v in voices:
    out = os.path.join(stage, f"synthetic-flite-{v}")
    os.makedirs(out)
    secs = 0.0
    for name, text in prompts:
        path = os.path.join(out, f"{name}.wav")
        r = subprocess.run([flite, "-voice", v, "-t", text, "-o", path], env=env, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(path):
            sys.exit(f"synthetic-voices: flite ({v}) failed on '{name}': {r.stderr.strip()}")
        with wave.open(path, "rb") as w:
            if w.getnframes() == 0:
                sys.exit(f"synthetic-voices: flite ({v}) wrote no samples for '{name}'")
            secs += w.getnframes() / w.getframerate()
    print(f"synthetic-voices:   synthetic-flite-{v:<6} {len(prompts):4d} prompts {secs / 60:5.1f} min")
PY

cat >"$stage/LICENSE-NOTE" <<'EOF'
SYNTHETIC speech, made by datasets/fetch-synthetic-voices.sh: the English Asterisk prompt texts
(asterisk-core-sounds-en 1.6.1-1, core-sounds-en.txt; (c) Digium, Inc., CC-BY-SA-3.0) spoken
by the flite 2.2 synthesiser (Debian flite / libflite1 2.2-5; Carnegie Mellon University,
BSD-style licence) with its voices awb, rms, slt (CMU ARCTIC) and kal16 (CMU Kal).
Every folder is one synthetic voice, a model of one real speaker. Report it as synthetic.
EOF

if [[ -e "$dest" ]]; then
    old="$(mktemp -d -p "$cache" .voices-old.XXXXXX)"
    mv "$dest" "$old/"
fi
mv "$stage" "$dest"
chmod 755 "$dest"
echo "synthetic-voices: written to $dest"
