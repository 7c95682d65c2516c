#!/usr/bin/env python3
"""Reference for the decode + augment benchmark: photographs read from files, decoded and
turned into two augmented 224x224 views (random resized crop 0.08-1, flip, colour jitter
0.4/0.4/0.2/0.1 p=0.8, grey-scale p=0.2, Gaussian blur p=0.5, solarize p=0.2, normalise),
the way a user would: a Dataset in a DataLoader with `--workers` processes (0: the main
process). Two pipelines: `tv` decodes with torchvision.io to uint8 tensors and applies
transforms.v2; `pil` opens with PIL and applies the classic PIL transforms (as lightly and
most SSL code bases do). Prints one JSON line.
"""
import argparse
import json
import os
import time

import torch
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import v2

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def pipeline(kind, size):
    if kind == "tv":
        return v2.Compose([
            v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True),
            v2.RandomHorizontalFlip(0.5),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
            v2.RandomGrayscale(0.2),
            v2.RandomApply([v2.GaussianBlur(23, sigma=(0.1, 2.0))], p=0.5),
            v2.RandomSolarize(128, p=0.2),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(MEAN, STD),
        ])
    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.08, 1.0)),
        T.RandomHorizontalFlip(0.5),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(0.2),
        T.RandomApply([T.GaussianBlur(23, sigma=(0.1, 2.0))], p=0.5),
        T.RandomSolarize(128, p=0.2),
        T.ToTensor(),
        T.Normalize(MEAN, STD),
    ])


class Photos(torch.utils.data.Dataset):
    """`count` samples cycling over `files`; each decoded once and augmented twice."""

    def __init__(self, files, count, kind, size):
        self.files, self.count, self.kind = files, count, kind
        self.augment = pipeline(kind, size)

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        path = self.files[i % len(self.files)]
        if self.kind == "tv":
            img = decode_image(read_file(path), mode=ImageReadMode.RGB)
        else:
            with Image.open(path) as f:
                img = f.convert("RGB")
        return self.augment(img), self.augment(img)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--impl", choices=["tv", "pil"], default="tv")
    args = ap.parse_args()

    torch.set_num_threads(1)
    files = sorted(os.path.join(args.dir, f) for f in os.listdir(args.dir) if f.lower().endswith((".png", ".jpg", ".jpeg")))
    torch.manual_seed(0)
    data = Photos(files, args.images, args.impl, args.size)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, num_workers=args.workers, shuffle=False,
                                         persistent_workers=args.workers > 0)
    # Warm-up: one pass over a batch per worker (starts the workers, fills the page cache).
    warm = iter(loader)
    for _ in range(max(1, args.workers)):
        next(warm, None)
    del warm
    t0 = time.perf_counter()
    seen = 0
    for a, b in loader:
        seen += a.shape[0]
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "impl": args.impl,
        "workers": args.workers,
        "images": seen,
        "views": 2,
        "seconds": round(seconds, 6),
        "images_per_second": seen / seconds,
        "torchvision": torchvision.__version__,
    }))


if __name__ == "__main__":
    main()
