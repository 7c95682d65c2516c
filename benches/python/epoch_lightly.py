#!/usr/bin/env python3
"""Reference for the whole-epoch benchmark: one epoch of SimCLR over a folder of PNG files
the way a PyTorch user would write it: torchvision's ImageFolder, lightly's SimCLRTransform
and NTXentLoss, a DataLoader with `--workers` worker processes, and the same model and
optimiser as `ssl-vision pretrain`'s defaults (small ConvNet 32-64-128-256 with max-pooling
between stages, projector 256-512(BN, ReLU)-128, temperature 0.2, AdamW lr 5e-3, weight
decay 1e-5, batch 128, crops 0.4-1, flip, brightness/contrast jitter 0.4 p=0.8, grey-scale
images normalised with mean 0.5 and sd 0.5). The time runs from creating the DataLoader's
iterator (workers starting) to the last optimiser step. Prints one JSON line.
"""
import argparse
import json
import time

import lightly
import torch
import torch.nn as nn
from lightly.loss import NTXentLoss
from lightly.transforms import SimCLRTransform
from PIL import Image
from torchvision.datasets import ImageFolder


class SmallConvNet(nn.Module):
    def __init__(self, in_channels=1, width=32, stages=4):
        super().__init__()
        layers, c = [], in_channels
        for i in range(stages):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            out = width << i
            layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
        self.body = nn.Sequential(*layers)
        self.out_dim = c

    def forward(self, x):
        return self.body(x).mean(dim=(2, 3))


def grey(path):
    with open(path, "rb") as f:
        return Image.open(f).convert("L")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    transform = SimCLRTransform(input_size=28, cj_prob=0.8, cj_strength=0.5, min_scale=0.4, random_gray_scale=0.2,
                                gaussian_blur=0.0, hf_prob=0.5, vf_prob=0.0, rr_prob=0.0,
                                normalize={"mean": [0.5], "std": [0.5]})
    data = ImageFolder(args.root, transform=transform, loader=grey)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=args.workers)
    backbone = SmallConvNet()
    projector = nn.Sequential(nn.Linear(backbone.out_dim, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, 128))
    model = nn.Sequential(backbone, projector).train()
    criterion = NTXentLoss(temperature=0.2)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=1e-5)

    t0 = time.perf_counter()
    steps, loss = 0, float("nan")
    for (x1, x2), _ in loader:
        opt.zero_grad(set_to_none=True)
        l = criterion(model(x1), model(x2))
        l.backward()
        opt.step()
        steps += 1
        loss = l.item()
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "impl": "lightly + torch DataLoader",
        "images": len(data),
        "steps": steps,
        "workers": args.workers,
        "threads": torch.get_num_threads(),
        "seconds": round(seconds, 6),
        "images_per_second": steps * args.batch / seconds,
        "final_loss": loss,
        "lightly": lightly.__version__,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
