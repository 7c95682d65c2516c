#!/usr/bin/env python3
"""Kaldi fbank / MFCC reference features for ssl-audio, from kaldi-native-fbank.

kaldi-native-fbank (PyPI, C++ port of Kaldi's compute-fbank-feats /
compute-mfcc-feats) computes the features; this script writes them to
crates/ssl-audio/tests/fixtures/kaldi_fbank.json. Run from the workspace root:

    .venv/bin/python -m pip install -r tests/reference/requirements-kaldi-fbank.txt
    .venv/bin/python tests/reference/kaldi_fbank_reference.py

Pinned: kaldi-native-fbank==1.23.0 (checked below through knf.__version__), numpy.
torch is not needed (nor imported).

Inputs: the two 8 kHz 16-bit mono WAV prompts in crates/ssl-audio/tests/fixtures/audio/
(en_allison_*.wav and it_carlo_*.wav, the first of each in sorted order). Samples are
fed in Kaldi's scale: the int16 values as floats, NOT divided by 32768.

Every option of every config is set explicitly (the package's own defaults differ from
Kaldi's command-line defaults, e.g. dither 3e-5 instead of 1.0), and the full option
dict, as read back from the package, is stored with each case.

JSON layout (see also the "notes" field in the file):
  generator, package, package_version, sample_scale, rounding, frames_policy
  inputs: {key: {file, sample_rate, num_samples}}       key is "en" or "it"
  cases: [ {name, kind ("fbank" | "mfcc"), input (key), file, options (nested dict,
            Kaldi option names), dim, num_frames_total, frames_kept,
            frames [frames_kept][dim] (the first frames_kept frames),
            last_frames_start, last_frames [k][dim] (the last k frames, k <= 3),
            max_abs_diff_vs_float64_numpy (max over all frames and dims of |knf - the float64
            numpy implementation below|: kaldi-native-fbank's own float32 rounding, mostly
            from its float32 kissfft in bins ~10 nats below the frame's peak; a test's
            tolerance should allow for it), frames_floored (energy-floor cases only:
            frames whose raw log energy is below log(energy_floor))} ]
  the "fbank_dither" case has no frames; instead, over all frames, per dimension:
    mean, std (population std, ddof 0) with dither 1.0, and mean_dither0, std_dither0
    with dither 0 (same options otherwise); kaldi-native-fbank draws its dither from
    C rand(), so these are stable run to run but not meant to be matched exactly.
All numbers are rounded to 6 significant digits, and at least 5 decimals (so the rounding
error is at most 5e-6 also for values of 10 and more, e.g. MFCC c0).

The script also checks kaldi-native-fbank against an independent float64 numpy
implementation of Kaldi's algorithm written below (and the same in float32), prints the
max abs differences per case, and stores only the float64 one per case. The output is
deterministic (the dither statistics too, on a given C library: rand() is unseeded).
"""

import glob
import json
import math
import os
import sys
import wave

import numpy as np

import kaldi_native_fbank as knf

KNF_VERSION = "1.23.0"
assert knf.__version__ == KNF_VERSION, (
    f"kaldi-native-fbank {knf.__version__} found, {KNF_VERSION} pinned: "
    f".venv/bin/python -m pip install kaldi-native-fbank=={KNF_VERSION}"
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "crates", "ssl-audio", "tests", "fixtures")
AUDIO = os.path.join(FIXTURES, "audio")
OUT = os.path.join(FIXTURES, "kaldi_fbank.json")

MAX_BYTES = 400_000  # keep every frame if the file stays under this, else trim
TRIM_FRAMES = 100
LAST_FRAMES = 3
FLT_EPSILON = float(np.finfo(np.float32).eps)


# ----------------------------------------------------------------------------- options

def frame_opts(**over):
    """Kaldi's command-line defaults (compute-fbank-feats / compute-mfcc-feats),
    with dither 0 and samp_freq 8000."""
    d = dict(
        samp_freq=8000.0,
        frame_length_ms=25.0,
        frame_shift_ms=10.0,
        dither=0.0,
        preemph_coeff=0.97,
        remove_dc_offset=True,
        window_type="povey",
        round_to_power_of_two=True,
        blackman_coeff=0.42,
        snip_edges=True,
    )
    d.update(over)
    return d


def mel_opts(**over):
    d = dict(
        num_bins=23,
        low_freq=20.0,
        high_freq=0.0,  # <= 0: offset from Nyquist
        vtln_low=100.0,
        vtln_high=-500.0,
        debug_mel=False,
        htk_mode=False,
        # kaldi-native-fbank extensions, set to plain Kaldi behaviour:
        is_librosa=False,
        norm="slaney",  # only read when is_librosa is true
        use_slaney_mel_scale=True,  # only read when is_librosa is true
        floor_to_int_bin=False,  # only read when is_librosa is true
    )
    d.update(over)
    return d


def fbank_config(frame=None, mel=None, **over):
    d = dict(
        frame_opts=frame_opts(**(frame or {})),
        mel_opts=mel_opts(**(mel or {})),
        use_energy=False,
        energy_floor=0.0,
        raw_energy=True,
        htk_compat=False,
        use_log_fbank=True,
        # kaldi-native-fbank extensions, set to plain Kaldi behaviour
        # (log(max(e, FLT_EPSILON))):
        use_log_floor=True,
        eps=FLT_EPSILON,
        use_power=True,
    )
    d.update(over)
    return d


def mfcc_config(frame=None, mel=None, **over):
    d = dict(
        frame_opts=frame_opts(**(frame or {})),
        mel_opts=mel_opts(**(mel or {})),
        num_ceps=13,
        use_energy=True,
        energy_floor=0.0,
        raw_energy=True,
        cepstral_lifter=22.0,
        htk_compat=False,
    )
    d.update(over)
    return d


def set_fields(obj, d):
    for k, v in d.items():
        if isinstance(v, dict):
            set_fields(getattr(obj, k), v)
        else:
            setattr(obj, k, v)
            back = getattr(obj, k)
            if isinstance(v, float):
                assert abs(back - v) <= 1e-6 * max(1.0, abs(v)), (k, v, back)
            else:
                assert back == v, (k, v, back)


def knf_options(kind, cfg):
    opts = knf.FbankOptions() if kind == "fbank" else knf.MfccOptions()
    set_fields(opts, cfg)
    return opts


def clean_opts(d):
    """Option dict as read back from the package, floats rounded to float32's precision."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = clean_opts(v)
        elif isinstance(v, float):
            out[k] = float(f"{v:.7g}")
        else:
            out[k] = v
    return out


# ----------------------------------------------------------------------------- audio

def find_input(pattern):
    files = sorted(glob.glob(os.path.join(AUDIO, pattern)))
    if not files:
        sys.exit(f"missing input {os.path.join(AUDIO, pattern)}")
    return files[0]


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getnchannels() == 1, path
        assert w.getsampwidth() == 2, path
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    x = np.frombuffer(data, dtype="<i2").astype(np.float32)  # Kaldi scale, not /32768
    return rate, x


# ----------------------------------------------------------------------------- knf

def knf_features(kind, cfg, rate, x):
    opts = knf_options(kind, cfg)
    comp = knf.OnlineFbank(opts) if kind == "fbank" else knf.OnlineMfcc(opts)
    comp.accept_waveform(float(rate), x)
    comp.input_finished()
    n = comp.num_frames_ready
    feats = np.stack([np.array(comp.get_frame(i), dtype=np.float64) for i in range(n)])
    return feats, opts


# ----------------------------------------------------------------------------- numpy reference
# Independent implementation of Kaldi's feature-window.cc, mel-computations.cc,
# feature-fbank.cc and feature-mfcc.cc (no dither), in float64 (dt=np.float64) or with
# every array op in float32 (dt=np.float32, to see what a float32 pipeline gets).

def window_shift(fo):
    return int(np.float32(fo["samp_freq"]) * np.float32(0.001) * np.float32(fo["frame_shift_ms"]))


def window_size(fo):
    return int(np.float32(fo["samp_freq"]) * np.float32(0.001) * np.float32(fo["frame_length_ms"]))


def padded_size(fo):
    n = window_size(fo)
    if not fo["round_to_power_of_two"]:
        return n
    p = 1
    while p < n:
        p *= 2
    return p


def num_frames(num_samples, fo):
    shift, length = window_shift(fo), window_size(fo)
    if fo["snip_edges"]:
        return 0 if num_samples < length else 1 + (num_samples - length) // shift
    return (num_samples + shift // 2) // shift


def first_sample(f, fo):
    shift, length = window_shift(fo), window_size(fo)
    if fo["snip_edges"]:
        return f * shift
    return shift * f + shift // 2 - length // 2


def window_fn(fo):
    n = window_size(fo)
    i = np.arange(n, dtype=np.float64)
    a = 2 * math.pi / (n - 1)
    t = fo["window_type"]
    if t == "hanning":
        return 0.5 - 0.5 * np.cos(a * i)
    if t == "hamming":
        return 0.54 - 0.46 * np.cos(a * i)
    if t == "povey":
        return (0.5 - 0.5 * np.cos(a * i)) ** 0.85
    if t == "rectangular":
        return np.ones(n)
    if t == "blackman":
        b = fo["blackman_coeff"]
        return b - 0.5 * np.cos(a * i) + (0.5 - b) * np.cos(2 * a * i)
    raise ValueError(t)


def extract(x, f, fo, dt):
    length = window_size(fo)
    start = first_sample(f, fo)
    idx = np.arange(start, start + length)
    n = len(x)
    for _ in range(4):  # reflection: -1 -> 0, -2 -> 1; n -> n-1, n+1 -> n-2
        idx = np.where(idx < 0, -idx - 1, idx)
        idx = np.where(idx >= n, 2 * n - 1 - idx, idx)
    return x[idx].astype(dt)


def mel(f):
    return 1127.0 * np.log(1.0 + f / 700.0)


def mel_banks(mo, fo):
    sr = fo["samp_freq"]
    npad = padded_size(fo)
    nfft = npad // 2  # the Nyquist bin (index npad/2) is left out
    nyq = 0.5 * sr
    low = mo["low_freq"]
    high = mo["high_freq"] if mo["high_freq"] > 0 else nyq + mo["high_freq"]
    ml, mh = mel(low), mel(high)
    delta = (mh - ml) / (mo["num_bins"] + 1)
    m = mel(np.arange(nfft) * (sr / npad))
    w = np.zeros((mo["num_bins"], nfft))
    for b in range(mo["num_bins"]):
        left, center, right = ml + b * delta, ml + (b + 1) * delta, ml + (b + 2) * delta
        inside = (m > left) & (m < right)
        up = (m - left) / (center - left)
        down = (right - m) / (right - center)
        w[b] = np.where(inside, np.where(m <= center, up, down), 0.0)
    return w


def frame_spectra(x, fo, dt=np.float64):
    """Yields (raw_log_energy, padded windowed frame) per frame."""
    win = window_fn(fo).astype(dt)
    npad = padded_size(fo)
    c = dt(fo["preemph_coeff"])
    for f in range(num_frames(len(x), fo)):
        fr = extract(x, f, fo, dt)
        if fo["remove_dc_offset"]:
            fr = fr - fr.mean(dtype=dt)
        raw_e = math.log(max(float(fr @ fr), FLT_EPSILON))
        if c != 0.0:
            fr = np.concatenate([[fr[0] - c * fr[0]], fr[1:] - c * fr[:-1]]).astype(dt)
        fr = fr * win
        padded = np.zeros(npad, dtype=dt)
        padded[: len(fr)] = fr
        yield raw_e, padded


def log_energy(cfg, raw_e, padded):
    e = raw_e if cfg["raw_energy"] else math.log(max(float(padded @ padded), FLT_EPSILON))
    if cfg["energy_floor"] > 0.0 and e < math.log(cfg["energy_floor"]):
        e = math.log(cfg["energy_floor"])
    return e


def power_spectrum(padded, dt):
    z = np.fft.rfft(padded)
    assert z.dtype == (np.complex64 if dt == np.float32 else np.complex128)
    return (z.real * z.real + z.imag * z.imag).astype(dt)


def numpy_fbank(cfg, x, dt=np.float64):
    fo, mo = cfg["frame_opts"], cfg["mel_opts"]
    w = mel_banks(mo, fo).astype(dt)
    out = []
    for raw_e, padded in frame_spectra(x, fo, dt):
        spec = power_spectrum(padded, dt)
        if not cfg["use_power"]:
            spec = np.sqrt(spec)
        e = w @ spec[: w.shape[1]]
        if cfg["use_log_fbank"]:
            e = np.log(np.maximum(e, dt(FLT_EPSILON)))
        if cfg["use_energy"]:
            en = log_energy(cfg, raw_e, padded)
            e = np.concatenate([e, [en]]) if cfg["htk_compat"] else np.concatenate([[en], e])
        out.append(e)
    return np.array(out, dtype=np.float64)


def numpy_mfcc(cfg, x, dt=np.float64):
    fo, mo = cfg["frame_opts"], cfg["mel_opts"]
    w = mel_banks(mo, fo).astype(dt)
    nb, nc = mo["num_bins"], cfg["num_ceps"]
    dct = np.zeros((nc, nb))
    dct[0] = math.sqrt(1.0 / nb)
    n = np.arange(nb)
    for k in range(1, nc):
        dct[k] = math.sqrt(2.0 / nb) * np.cos(math.pi / nb * (n + 0.5) * k)
    q = cfg["cepstral_lifter"]
    lifter = 1.0 + 0.5 * q * np.sin(math.pi * np.arange(nc) / q) if q != 0.0 else np.ones(nc)
    dct, lifter = dct.astype(dt), lifter.astype(dt)
    out = []
    for raw_e, padded in frame_spectra(x, fo, dt):
        spec = power_spectrum(padded, dt)
        e = np.log(np.maximum(w @ spec[: w.shape[1]], dt(FLT_EPSILON)))
        c = (dct @ e) * lifter
        if cfg["use_energy"]:
            c[0] = log_energy(cfg, raw_e, padded)
        if cfg["htk_compat"]:
            c0 = c[0] if cfg["use_energy"] else c[0] * math.sqrt(2.0)
            c = np.concatenate([c[1:], [c0]])
        out.append(c)
    return np.array(out, dtype=np.float64)


# ----------------------------------------------------------------------------- cases

def r6(v):
    """6 significant digits, and at least 5 decimals (|rounding error| <= 5e-6)."""
    return float(f"{v:.6g}") if abs(v) < 10.0 else round(float(v), 5)


def rmat(m):
    return [[r6(v) for v in row] for row in m]


CASES = [
    # name, kind, inputs, config
    ("fbank_defaults", "fbank", ["en", "it"], fbank_config()),
    ("fbank_no_snip", "fbank", ["en"], fbank_config(frame=dict(snip_edges=False))),
    ("fbank_hamming", "fbank", ["en"], fbank_config(frame=dict(window_type="hamming"))),
    ("fbank_no_preemph_no_dc", "fbank", ["en"],
     fbank_config(frame=dict(preemph_coeff=0.0, remove_dc_offset=False))),
    ("fbank_energy", "fbank", ["en"], fbank_config(use_energy=True)),
    ("fbank_80_bins_64ms", "fbank", ["en"],
     fbank_config(frame=dict(frame_length_ms=50.0, frame_shift_ms=12.5, round_to_power_of_two=True),
                  mel=dict(num_bins=40, low_freq=60.0, high_freq=-400.0))),
    ("fbank_magnitude", "fbank", ["en"], fbank_config(use_power=False)),
    ("fbank_energy_floor", "fbank", ["en"], fbank_config(use_energy=True, energy_floor=1.0)),
    # energy_floor 1.0 (log 0) floors no frame of these real prompts (the lowest raw log
    # energy of a frame of the en prompt is 3.83); 100.0 (log 4.605) floors 4 of its frames.
    ("fbank_energy_floor_100", "fbank", ["en"], fbank_config(use_energy=True, energy_floor=100.0)),
    ("mfcc_defaults", "mfcc", ["en", "it"], mfcc_config()),
    ("mfcc_no_energy_lifter0", "mfcc", ["en"], mfcc_config(use_energy=False, cepstral_lifter=0.0)),
]


def main():
    inputs = {}
    signals = {}
    for key, pattern in (("en", "en_allison_*.wav"), ("it", "it_carlo_*.wav")):
        path = find_input(pattern)
        rate, x = read_wav(path)
        assert rate == 8000, (path, rate)
        rel = os.path.relpath(path, FIXTURES)
        inputs[key] = dict(file=rel, sample_rate=rate, num_samples=int(len(x)))
        signals[key] = (rate, x)

    computed = []  # (case dict without frames, full matrix)
    print("max |knf - numpy| over all frames (float64 numpy, then float32 numpy), with where the\n"
          "float64 max is (frame, dim, value), and the max over the first frame alone (float64)")
    print(f"{'case':24s} {'in':3s} {'frames':>6s} {'dim':>3s}  {'f64':>9s} {'f32':>9s}  {'at':24s} first")
    for name, kind, keys, cfg in CASES:
        for key in keys:
            rate, x = signals[key]
            feats, opts = knf_features(kind, cfg, rate, x)
            numpy_fn = numpy_fbank if kind == "fbank" else numpy_mfcc
            ref = numpy_fn(cfg, x)
            ref32 = numpy_fn(cfg, x, np.float32)
            assert ref.shape == feats.shape, (name, ref.shape, feats.shape)
            d = np.abs(ref - feats)
            d32 = np.abs(ref32 - feats)
            i, j = np.unravel_index(np.argmax(d), d.shape)
            first = np.abs(ref[0] - feats[0]).max()
            at = f"({i}, {j}, {feats[i, j]:.4f})"
            print(f"{name:24s} {key:3s} {feats.shape[0]:6d} {feats.shape[1]:3d}  {d.max():.3e} "
                  f"{d32.max():.3e}  {at:24s} {first:.3e}")
            extra = {}
            if name.startswith("fbank_energy_floor"):
                raw = [e for e, _ in frame_spectra(x, cfg["frame_opts"])]
                extra["frames_floored"] = int(sum(e < math.log(cfg["energy_floor"]) for e in raw))
                print(f"    frames whose raw log energy is below log(energy_floor): {extra['frames_floored']}")
            case = dict(name=name, kind=kind, input=key, file=inputs[key]["file"],
                        options=clean_opts(opts.as_dict()), dim=int(feats.shape[1]),
                        num_frames_total=int(feats.shape[0]),
                        max_abs_diff_vs_float64_numpy=float(f"{d.max():.3g}"), **extra)
            computed.append((case, feats))

    # dither: statistics only
    rate, x = signals["en"]
    cfg1 = fbank_config(frame=dict(dither=1.0))
    f1, opts1 = knf_features("fbank", cfg1, rate, x)
    f0, _ = knf_features("fbank", fbank_config(), rate, x)
    dither_case = dict(
        name="fbank_dither", kind="fbank", input="en", file=inputs["en"]["file"],
        options=clean_opts(opts1.as_dict()), dim=int(f1.shape[1]), num_frames_total=int(f1.shape[0]),
        stats_over="all frames, per dimension; std is the population std (ddof 0)",
        mean=[r6(v) for v in f1.mean(0)], std=[r6(v) for v in f1.std(0)],
        mean_dither0=[r6(v) for v in f0.mean(0)], std_dither0=[r6(v) for v in f0.std(0)],
    )
    print(f"fbank_dither: max |mean(d=1) - mean(d=0)| = {np.abs(f1.mean(0) - f0.mean(0)).max():.4f}, "
          f"max |std(d=1) - std(d=0)| = {np.abs(f1.std(0) - f0.std(0)).max():.4f}")

    def build(trim):
        cases = []
        for case, feats in computed:
            c = dict(case)
            n = feats.shape[0]
            kept = min(n, trim) if trim else n
            c["frames_kept"] = kept
            c["frames"] = rmat(feats[:kept])
            k = min(LAST_FRAMES, n)
            c["last_frames_start"] = n - k
            c["last_frames"] = rmat(feats[n - k:])
            cases.append(c)
        cases.append(dither_case)
        doc = dict(
            generator="tests/reference/kaldi_fbank_reference.py",
            package="kaldi-native-fbank",
            package_version=knf.__version__,
            sample_scale="int16 sample values as floats (not divided by 32768)",
            rounding="6 significant digits, and at least 5 decimals (|rounding error| <= 5e-6)",
            frames_policy=(f"all frames if the file stays under {MAX_BYTES} bytes, else the first "
                           f"{TRIM_FRAMES} of each case; last_frames always holds the last "
                           f"{LAST_FRAMES} frames (starting at frame index last_frames_start)"),
            notes=("frames are [frame][dim]; fbank with use_energy has the log energy at dim 0 "
                   "(htk_compat false); mfcc with use_energy has the log energy in place of c0. "
                   "fbank_dither holds per-dim stats instead of frames."),
            inputs=inputs,
            cases=cases,
        )
        return json.dumps(doc, separators=(",", ":")) + "\n"

    text = build(None)
    if len(text) > MAX_BYTES:
        text = build(TRIM_FRAMES)
    with open(OUT, "w") as fh:
        fh.write(text)
    print(f"wrote {OUT} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
