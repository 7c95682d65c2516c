#!/usr/bin/env python3
"""Reference for the clip benchmark: videos stored as folders of frames, each giving two clips of
`--frames` frames at `--stride` from random starts, every clip augmented as one (random resized
crop 0.08-1, flip, colour jitter 0.4/0.4/0.4/0.1 p=0.8, grey-scale p=0.2, normalise) the way a
user would: frames opened with PIL, stacked into a `tv_tensors.Video` [T, C, H, W] and passed
through torchvision.transforms.v2 (which draws one set of parameters for the whole clip), in a
DataLoader with `--workers` processes (0: the main process). Prints one JSON line.
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

FRAME_EXT = (".png", ".jpg", ".jpeg", ".pgm", ".ppm")


def pipeline(size):
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(0.5),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(0.2),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([0.5], [0.5]),
    ])


class Clips(torch.utils.data.Dataset):
    """`count` samples cycling over the videos; two clips each, frames decoded once."""

    def __init__(self, videos, count, frames, stride, size):
        self.videos, self.count, self.frames, self.stride = videos, count, frames, stride
        self.augment = pipeline(size)

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        files = self.videos[i % len(self.videos)]
        span = (self.frames - 1) * self.stride + 1
        decoded, views = {}, []
        for _ in range(2):
            start = random.randrange(0, len(files) - span + 1)
            frames = []
            for k in range(self.frames):
                f = start + k * self.stride
                if f not in decoded:
                    with Image.open(files[f]) as img:
                        decoded[f] = torch.from_numpy(np.array(img.convert("L"))).unsqueeze(0)
                frames.append(decoded[f])
            clip = tv_tensors.Video(torch.stack(frames))
            views.append(self.augment(clip).permute(1, 0, 2, 3))  # [C, T, H, W]
        return views[0], views[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--videos", type=int, default=64)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    videos = []
    for d in sorted(os.listdir(args.dir)):
        path = os.path.join(args.dir, d)
        if os.path.isdir(path):
            files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(FRAME_EXT))
            if files:
                videos.append(files)
    random.seed(0)
    torch.manual_seed(0)
    data = Clips(videos, args.videos, args.frames, args.stride, args.size)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, num_workers=args.workers, shuffle=False,
                                         persistent_workers=args.workers > 0)
    warm = iter(loader)
    for _ in range(max(1, args.workers)):
        next(warm, None)
    del warm
    t0 = time.perf_counter()
    n = 0
    for a, b in loader:
        assert a.shape[1:] == (1, args.frames, args.size, args.size), a.shape
        n += a.shape[0]
    dt = time.perf_counter() - t0
    print(json.dumps({"videos_per_second": n / dt, "videos": n, "seconds": dt, "workers": args.workers,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
