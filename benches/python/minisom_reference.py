#!/usr/bin/env python3
"""MiniSom reference for the SOM benchmark and cross-check.

Trains MiniSom's batch SOM (`train_batch_offline`, Kohonen's batch algorithm) on the same
preprocessed spectra for the same number of iterations, times fitting and inference
(best-matching unit of every spectrum), and scores both MiniSom's map and ours (given as
prototypes) with MiniSom's own quantization and topographic errors.
Prints one JSON line.
"""
import argparse
import json
import time

import numpy as np
from minisom import MiniSom


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="[N, L] float32 .npy")
    ap.add_argument("--ours", required=True, help="our prototypes, [rows*cols, L] .npy")
    ap.add_argument("--rows", type=int, default=15)
    ap.add_argument("--cols", type=int, default=15)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--sigma", type=float, default=7.07, help="start of the Gaussian width (T_max / sqrt 2)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    x = np.load(args.data).astype(np.float64)
    ours = np.load(args.ours).astype(np.float64).reshape(args.rows, args.cols, -1)
    som = MiniSom(args.rows, args.cols, x.shape[1], sigma=args.sigma, learning_rate=1.0, random_seed=args.seed)
    som.random_weights_init(x)
    t0 = time.perf_counter()
    som.train_batch_offline(x, args.iterations)
    fit_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(args.repeats):
        d = som._distance_from_weights(x)  # [N, rows*cols], vectorised in NumPy
        d.argmin(axis=1)
    infer_s = (time.perf_counter() - t0) / args.repeats

    qe_theirs, te_theirs = som.quantization_error(x), som.topographic_error(x)
    som._weights = ours
    qe_ours, te_ours = som.quantization_error(x), som.topographic_error(x)
    print(json.dumps({
        "impl": "minisom.train_batch_offline", "n": int(x.shape[0]), "pixels": int(x.shape[1]),
        "iterations": args.iterations, "fit_seconds": fit_s, "infer_seconds": infer_s,
        "fit_spectra_per_second": x.shape[0] * args.iterations / fit_s,
        "infer_spectra_per_second": x.shape[0] / infer_s,
        "minisom_map": {"quantization_error": qe_theirs, "topographic_error": te_theirs},
        "our_map_scored_by_minisom": {"quantization_error": qe_ours, "topographic_error": te_ours},
    }))


if __name__ == "__main__":
    main()
