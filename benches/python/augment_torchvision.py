#!/usr/bin/env python3
"""torchvision.transforms.v2 reference for the augmentation benchmark.

SimCLR-style pipeline on uint8 CHW [3,32,32] tensors, two views per image,
single process. Prints one JSON line with the measured throughput.
"""
import argparse
import json
import time

import torch
import torchvision
from torchvision.transforms import v2


def make_pipeline():
    return v2.Compose([
        v2.RandomResizedCrop(32, scale=(0.2, 1.0), antialias=True),
        v2.RandomHorizontalFlip(0.5),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(0.2),
        v2.ToDtype(torch.float32, scale=True),
    ])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=gen)
    torch.manual_seed(0)  # the transforms draw from the global RNG
    augment = make_pipeline()

    def run(batch):
        for img in batch:
            augment(img)
            augment(img)

    run(images[:256])  # warm-up
    t0 = time.perf_counter()
    run(images)
    seconds = time.perf_counter() - t0

    print(json.dumps({
        "impl": "torchvision.v2",
        "images": args.images,
        "views": 2,
        "seconds": round(seconds, 6),
        "images_per_second": args.images / seconds,
        "threads": torch.get_num_threads(),
        "torchvision": torchvision.__version__,
    }))


if __name__ == "__main__":
    main()
