#!/usr/bin/env python3
"""nibabel + MONAI reference for the volume-pipeline benchmark.

The same work as `ssl-medical bench --which volumes`: read a NIfTI volume and its label map
(nibabel, through MONAI's LoadImaged), then cut patches (half of them centred on labelled
voxels: RandCropByPosNegLabeld) and augment image and labels together: flips along each
axis (p 0.5), a quarter turn in the axial plane (p 0.5), an affine (p 0.8: rotations up to
15 degrees about each axis, scale 0.9-1.1, shifts up to 5%), an elastic deformation (p 0.3),
gamma 0.7-1.5 (p 0.3) and Gaussian noise (sd 0.05, p 0.3). Prints one JSON line.
"""
import argparse
import json
import math
import time

import numpy as np
import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--image", required=True)
    p.add_argument("--labels", required=True)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--patches", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    from monai import transforms as T
    from monai.utils import set_determinism

    set_determinism(seed=0)
    keys = ["image", "label"]
    load = T.Compose([T.LoadImaged(keys, image_only=True), T.EnsureChannelFirstd(keys)])
    s = (a.patch,) * 3
    augment = T.Compose(
        [
            T.RandCropByPosNegLabeld(keys, label_key="label", spatial_size=s, pos=1, neg=1, num_samples=1),
            T.RandFlipd(keys, prob=0.5, spatial_axis=0),
            T.RandFlipd(keys, prob=0.5, spatial_axis=1),
            T.RandFlipd(keys, prob=0.5, spatial_axis=2),
            T.RandRotate90d(keys, prob=0.5, spatial_axes=(0, 1)),
            T.RandAffined(
                keys,
                prob=0.8,
                rotate_range=[math.radians(15)] * 3,
                scale_range=[0.1] * 3,
                translate_range=[0.05 * a.patch] * 3,
                mode=("bilinear", "nearest"),
                padding_mode="border",
            ),
            T.Rand3DElasticd(keys, prob=0.3, sigma_range=(5, 7), magnitude_range=(1, 3), mode=("bilinear", "nearest"), padding_mode="border"),
            T.RandAdjustContrastd("image", prob=0.3, gamma=(0.7, 1.5)),
            T.RandGaussianNoised("image", prob=0.3, std=0.05),
        ]
    )
    t0 = time.perf_counter()
    data = load({"image": a.image, "label": a.labels})
    data["image"] = data["image"].float()
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    voxels = 0
    for _ in range(a.patches):
        out = augment(data)
        out = out[0] if isinstance(out, list) else out
        voxels += int(np.prod(out["image"].shape))
    t_aug = time.perf_counter() - t0
    print(json.dumps({"load_seconds": t_load, "patches_per_second": a.patches / t_aug, "voxels": voxels, "threads": a.threads}))


if __name__ == "__main__":
    main()
