#!/usr/bin/env python3
"""PyTorch reference for the U-Net training-step benchmark.

The same step as `ssl-medical bench-step`: BT-Unet's U-Net (encoder blocks of two separable
3x3 convolutions with batch norm and ReLU plus a 1x1 shortcut and dropout 0.1, widths
w..16w with max-pooling; decoder of 2x2 transposed convolutions, skip concatenation and two
3x3 conv-BN-ReLU; 1x1 head), the loss 0.4 cross entropy + 0.6 soft Dice over the foreground
classes, AdamW without weight decay. Prints one JSON line with the throughput and the
parameter count (which must equal ours).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Separable(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class Residual(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1, self.bn1 = Separable(c_in, c_out), nn.BatchNorm2d(c_out)
        self.conv2, self.bn2 = Separable(c_out, c_out), nn.BatchNorm2d(c_out)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.dropout(y + self.shortcut(x), 0.1, self.training)


class Up(nn.Module):
    def __init__(self, c_in, c_skip):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_skip, 2, stride=2)
        self.conv1, self.bn1 = nn.Conv2d(2 * c_skip, c_skip, 3, padding=1, bias=False), nn.BatchNorm2d(c_skip)
        self.conv2, self.bn2 = nn.Conv2d(c_skip, c_skip, 3, padding=1, bias=False), nn.BatchNorm2d(c_skip)

    def forward(self, x, skip):
        x = torch.cat([self.up(x), skip], 1)
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class Unet(nn.Module):
    def __init__(self, c_in, width, levels, classes):
        super().__init__()
        widths = [width << l for l in range(levels + 1)]
        chans = [c_in] + widths
        self.blocks = nn.ModuleList([Residual(chans[i], chans[i + 1]) for i in range(levels + 1)])
        self.stages = nn.ModuleList([Up(widths[l + 1], widths[l]) for l in reversed(range(levels))])
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        maps = []
        for i, b in enumerate(self.blocks):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = b(x)
            maps.append(x)
        x = maps.pop()
        for stage, skip in zip(self.stages, reversed(maps)):
            x = stage(x, skip)
        return self.head(x)


def loss_fn(logits, target):
    ce = F.cross_entropy(logits, target)
    probs = logits.softmax(1)
    onehot = F.one_hot(target, logits.shape[1]).movedim(-1, 1).float()
    dims = [0] + list(range(2, logits.dim()))
    inter = (probs * onehot).sum(dims)
    total = probs.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + 1) / (total + 1)
    return 0.4 * ce + 0.6 * (1 - dice[1:].mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--levels", type=int, default=4)
    p.add_argument("--classes", type=int, default=5)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    device = torch.device("cuda" if a.device == "cuda" else "cpu")
    model = Unet(1, a.width, a.levels, a.classes).to(device).train()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    x = torch.randn(a.batch, 1, a.size, a.size, device=device)
    y = torch.randint(0, a.classes, (a.batch, a.size, a.size), device=device)

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    elapsed = time.perf_counter() - t0
    print(json.dumps({"steps_per_second": a.steps / elapsed, "parameters": params, "torch": torch.__version__, "threads": a.threads}))


if __name__ == "__main__":
    main()
