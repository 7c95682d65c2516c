#!/usr/bin/env bash
# Make real music with weak captions available under datasets/cache/music/ for music-language
# pre-training: the 1,850 Irish tunes of O'Neill's "Music of Ireland" (1903) as transcribed in
# ABC in the music21 corpus, each turned into MIDI by abc2midi and then into audio by
# `ssl-audio render-music` with a General MIDI soundfont. Pinned sources:
#
#   what                        from                                    version          licence
#   ABC tunes (oneills1850/)    PyPI wheel music21                      10.5.1           see LICENSE-NOTE
#   abc2midi                    Debian bookworm package abcmidi         20230208+ds1-1   GPL-2+
#   TimGM6mb.sf2 (GM bank)      Debian bookworm timgm6mb-soundfont      1.3-5            GPL-2
#
# The audio is synthetic (a soundfont playing the transcriptions); the music and its
# metadata are real. Say so wherever results on it are reported.
#
# Layout written here:
#   tunes.csv        one row per tune: id, midi, title, meter, tonic, mode, rhythm, family,
#                    program, caption
#   midi/<id>.mid    the tune as abc2midi plays it (repeats expanded), with the instrument
#   TimGM6mb.sf2     the soundfont
#   audio/<id>.wav   16 kHz mono renderings (first 20 s), and music.csv, by render-music
#
# Captions ("weak" text for pre-training) are made from the ABC headers: title, meter, key
# tonic, the tempo and collector notes (N:) and the collection. Three attributes are LEFT OUT
# of the captions, for downstream tests of what the audio encoder learned by itself:
#   rhythm   from R: (reel, hornpipe, jig = jig / double jig, slip jig; empty otherwise);
#            rhythm words are also removed from titles and notes ("The Blackbird Hornpipe")
#   mode     from K: (major, minor, dorian, mixolydian, ...); the caption names the tonic only
#   family   the instrument family each tune is rendered with, drawn per tune from a seeded
#            hash of its id: keyboard (piano 0, harpsichord 6), plucked (nylon guitar 24,
#            harp 46), bowed (violin 40, cello 42), flute (flute 73, whistle 78), reed
#            (accordion 21, clarinet 71)
#
# Usage:
#   bash datasets/fetch-music.sh              # fetch and render, or say 'already' when present
#   bash datasets/fetch-music.sh --no-render  # the tunes, MIDI and soundfont only
# Needs apt-get (package lists holding the pinned versions: `apt-get update` once), dpkg-deb,
# python3 with pip, and cargo for the rendering; no root, nothing is installed into the system.
# Idempotent: a complete cache (tunes.csv, every MIDI file, audio/music.csv) is left alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cache="$root/datasets/cache"
dest="$cache/music"
render=1
case "${1:-}" in
    "") ;;
    --no-render) render=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "music: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

complete() {
    [[ -s "$dest/tunes.csv" && -s "$dest/TimGM6mb.sf2" ]] || return 1
    python3 - "$dest" <<'PY' || return 1
import csv, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "tunes.csv"), newline="", encoding="utf-8")))
ok = lambda p: os.path.isfile(p) and os.path.getsize(p) > 0
sys.exit(0 if rows and all(ok(os.path.join(d, r["midi"])) for r in rows) else 1)
PY
}

render_audio() {
    echo "music: rendering audio (ssl-audio render-music)"
    (cd "$root" && cargo run --release --locked -q -p ssl-audio -- render-music --data "$dest")
}

if complete; then
    if [[ $render == 0 || -s "$dest/audio/music.csv" ]]; then
        echo "music: already at $dest ($(($(wc -l <"$dest/tunes.csv") - 1)) tunes)"
        exit 0
    fi
    render_audio
    exit 0
fi

mkdir -p "$cache"
dl="$(mktemp -d)"
stage="$(mktemp -d -p "$cache" .music-stage.XXXXXX)"
old=""
trap 'rm -rf "$dl" "$stage" ${old:+"$old"}' EXIT

apt_opts=(-q)
[[ $EUID == 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
for spec in "abcmidi 20230208+ds1-1" "timgm6mb-soundfont 1.3-5"; do
    read -r pkg ver <<<"$spec"
    echo "music: downloading $pkg=$ver"
    if ! (cd "$dl" && apt-get "${apt_opts[@]}" download "$pkg=$ver" >/dev/null); then
        echo "music: apt-get could not download $pkg=$ver (run 'apt-get update'; the pinned" \
             "version must be in the configured Debian suite)" >&2
        exit 1
    fi
    dpkg -x "$dl/${pkg}_"*.deb "$dl/x"
done
echo "music: downloading the music21 10.5.1 wheel"
python3 -m pip download -q --no-deps --only-binary=:all: music21==10.5.1 -d "$dl" \
    || { echo "music: pip could not download music21==10.5.1" >&2; exit 1; }
cp "$dl/x/usr/share/sounds/sf2/TimGM6mb.sf2" "$stage/"

python3 - "$dl"/music21-10.5.1-*.whl "$dl/x/usr/bin/abc2midi" "$stage" <<'PY'
import csv, hashlib, os, re, subprocess, sys, zipfile

wheel, abc2midi, stage = sys.argv[1:4]
FAMILIES = [("keyboard", (0, 6)), ("plucked", (24, 46)), ("bowed", (40, 42)), ("flute", (73, 78)), ("reed", (21, 71))]
RHYTHMS = {"reel": "reel", "hornpipe": "hornpipe", "jig": "jig", "double jig": "jig", "doublejig": "jig",
           "slip jig": "slip jig", "slipjig": "slip jig"}
MODES = {"": "major", "maj": "major", "ion": "major", "m": "minor", "min": "minor", "aeo": "minor",
         "dor": "dorian", "mix": "mixolydian", "phr": "phrygian", "lyd": "lydian", "loc": "locrian"}
METERS = {"C": "common time (4/4)", "C|": "cut time (2/2)"}
MODE_WORDS = re.compile(r"(?i)\b(major|minor|dorian|mixolydian|aeolian|ionian|phrygian|lydian|mode|key)\b")
RHYTHM_WORDS = re.compile(r"(?i)\b(double\s+jig|slip\s*jig|jig|reel|hornpipe)s?\b")

z = zipfile.ZipFile(wheel)
books = sorted(n for n in z.namelist() if n.startswith("music21/corpus/oneills1850/") and n.endswith(".abc"))
if not books:
    sys.exit("music: the wheel holds no music21/corpus/oneills1850/*.abc")
os.makedirs(os.path.join(stage, "midi"))
rows, seen, dup, failed, leaked = [], set(), 0, [], 0
for book in books:
    text = z.read(book).decode("latin-1")
    for block in re.split(r"\n(?=X:)", text):
        if not block.startswith("X:"):
            continue
        head = {}
        notes = []
        for line in block.splitlines():
            m = re.match(r"^([A-Za-z]):\s*(.*?)\s*$", line)
            if not m:
                continue
            if m.group(1) == "N" and m.group(2):
                notes += [n.strip().rstrip(".") for n in re.findall(r'"([^"]*)"', m.group(2)) or [m.group(2).strip('"')] if n.strip()]
            head.setdefault(m.group(1), m.group(2))
        number = int(re.match(r"\d+", head.get("X", "0")).group(0) or 0)
        if number in seen:
            dup += 1  # two books of the corpus overlap (0626-0635 / 0626-0700, ...)
            continue
        seen.add(number)
        tid = f"oneills-{number:04d}"
        key = head.get("K", "").strip()
        km = re.match(r"^([A-Ga-g][#b]?)\s*([A-Za-z]*)", key)
        if not km:
            failed.append(f"{tid} (key '{key}')")
            continue
        tonic = km.group(1)[0].upper() + km.group(1)[1:]
        mode = MODES.get(km.group(2).lower()[:3], None)
        if mode is None:
            failed.append(f"{tid} (mode '{km.group(2)}')")
            continue
        rhythm = RHYTHMS.get(re.sub(r"\s+", " ", head.get("R", "").strip().lower()), "")
        h = int(hashlib.sha256(tid.encode()).hexdigest(), 16)
        family, programs = FAMILIES[h % len(FAMILIES)]
        program = programs[(h // len(FAMILIES)) % 2]
        # The tune with its instrument: a program change right after the K: line.
        lines = block.rstrip("\n").splitlines()
        k = next(i for i, l in enumerate(lines) if l.startswith("K:"))
        lines.insert(k + 1, f"%%MIDI program {program}")
        abc = os.path.join(stage, ".abc")
        with open(abc, "w", encoding="latin-1") as f:
            f.write("\n".join(lines) + "\n\n")
        mid = os.path.join(stage, "midi", f"{tid}.mid")
        r = subprocess.run([abc2midi, abc, "-o", mid], capture_output=True, text=True, errors="replace")
        if r.returncode != 0 or not os.path.exists(mid) or os.path.getsize(mid) == 0:
            failed.append(f"{tid} (abc2midi: {r.stdout.strip().splitlines()[-1:] or r.returncode})")
            continue
        title = head.get("T", "").strip() or "An untitled tune"
        clean = lambda s: re.sub(r"\s{2,}", " ", RHYTHM_WORDS.sub("", s)).strip(" ,.-")
        if RHYTHM_WORDS.search(title + " " + " ".join(notes)):
            leaked += 1
        meter = head.get("M", "").strip()
        parts = [clean(title) or "An untitled tune", f"a tune in {METERS.get(meter, meter)}", f"in {tonic}"]
        # Transcribers' remarks on the key ("should probably be D major") would leak the mode.
        parts += [clean(n).lower() for n in notes if clean(n) and not MODE_WORDS.search(n)]
        parts.append("from O'Neill's Music of Ireland")
        rows.append({"id": tid, "midi": f"midi/{tid}.mid", "title": title, "meter": meter, "tonic": tonic,
                     "mode": mode, "rhythm": rhythm, "family": family, "program": program,
                     "caption": ", ".join(parts) + "."})
os.remove(os.path.join(stage, ".abc"))
rows.sort(key=lambda r: r["id"])
with open(os.path.join(stage, "tunes.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
print(f"music:   {len(rows)} tunes ({dup} duplicates across books dropped, {len(failed)} left out: {', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''})")
print(f"music:   rhythm words removed from {leaked} titles / notes")
counts = lambda k: ", ".join(f"{v or '-'} {sum(r[k] == v for r in rows)}" for v in sorted({r[k] for r in rows}))
for k in ("rhythm", "mode", "family"):
    print(f"music:   {k}: {counts(k)}")
PY

cat >"$stage/LICENSE-NOTE" <<'EOF'
Music in this folder, made by datasets/fetch-music.sh:
- The tunes: Francis O'Neill, "O'Neill's Music of Ireland" (Chicago, 1903; public domain),
  as transcribed in ABC by volunteers (Norbert Paap, Dave Wooldridge and others, named in each
  tune's Z: field) and distributed in the music21 corpus (music21 10.5.1,
  music21/corpus/oneills1850/). music21's corpus/license.txt: the encodings are distributed
  with the encoders' permission; some may carry restrictions on commercial use.
- MIDI by abc2midi (Debian abcmidi 20230208+ds1-1, GPL-2+); audio rendered with the
  TimGM6mb soundfont (Debian timgm6mb-soundfont 1.3-5, GPL-2, by Tim Brechbill), copied here.
The audio is synthetic: a soundfont playing the transcriptions.
EOF

if [[ -e "$dest" ]]; then
    old="$(mktemp -d -p "$cache" .music-old.XXXXXX)"
    mv "$dest" "$old/"
fi
mv "$stage" "$dest"
chmod 755 "$dest"
echo "music: tunes, MIDI and soundfont at $dest"
[[ $render == 1 ]] && render_audio
exit 0
