#!/usr/bin/env python3
"""Reference throughput for the Kaldi filterbank benchmark.

Computes Kaldi log mel filterbanks of the same recordings (samples in the 16-bit range,
one utterance at a time, as a data loader would) with kaldi-native-fbank (C++) and with
torchaudio.compliance.kaldi.fbank (PyTorch ops), at each thread count, best of
--repeats. Writes the kaldi-native-fbank features of the first utterance for a
cross-check and prints one JSON line.
"""
import argparse
import json
import time

import numpy as np


def knf_fbank(knf, x, rate, bins):
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = rate
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = True
    opts.frame_opts.window_type = "povey"
    opts.mel_opts.num_bins = bins
    opts.use_energy = False
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(rate, x.tolist())
    fb.input_finished()
    return np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", required=True, help="all utterances concatenated, float32 .npy")
    ap.add_argument("--lengths", required=True, help="samples per utterance, int64 .npy")
    ap.add_argument("--rate", type=float, default=16000)
    ap.add_argument("--bins", type=int, default=80)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--first-out", required=True, help="where to write knf's features of utterance 0 (.npy)")
    args = ap.parse_args()

    import kaldi_native_fbank as knf
    import torch
    import torchaudio.compliance.kaldi as ta_kaldi

    flat = np.load(args.samples).astype(np.float32)
    lengths = np.load(args.lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    utts = [flat[s:s + n] for s, n in zip(starts, lengths)]
    utts_t = [torch.from_numpy(u.copy()).unsqueeze(0) for u in utts]
    np.save(args.first_out, knf_fbank(knf, utts[0], args.rate, args.bins).astype(np.float32))

    def run_knf():
        for u in utts:
            knf_fbank(knf, u, args.rate, args.bins)

    def run_torchaudio():
        with torch.inference_mode():
            for u in utts_t:
                ta_kaldi.fbank(u, num_mel_bins=args.bins, sample_frequency=args.rate, dither=0.0,
                               window_type="povey", snip_edges=True, energy_floor=0.0)

    out = {"utterances": len(utts), "audio_seconds": float(lengths.sum() / args.rate),
           "knf_version": knf.__version__, "torch_version": torch.__version__, "by_threads": {}}
    for t in [int(s) for s in args.threads.split(",")]:
        torch.set_num_threads(t)
        out["by_threads"][str(t)] = {
            # kaldi-native-fbank has no threads of its own: the same at every count.
            "kaldi_native_fbank_seconds": best(run_knf, args.repeats),
            "torchaudio_seconds": best(run_torchaudio, args.repeats),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
