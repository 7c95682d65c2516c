#!/usr/bin/env python3
"""PyTorch reference for the SimCLR training-step benchmark.

ResNet-18 adapted to 32x32 inputs (3x3 stem, no max-pool, 512-d features), or with
--arch r3d_18 / r2plus1d_18 a video ResNet with the small-input stem on clips of --frames x 32 x 32,
projector 512-512(BN, ReLU)-128, NT-Xent loss (t=0.2), SGD with momentum.
Prints one JSON line with the measured throughput (and with --count-flops the
forward + backward FLOPs of one step, counted by torch.utils.flop_counter).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def make_model(arch="resnet18"):
    if arch == "resnet18":
        backbone = torchvision.models.resnet18(weights=None)
        backbone.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        backbone.maxpool = nn.Identity()
    else:
        # A video ResNet with the small-input stem: spatial stride 1 in the stem.
        backbone = getattr(torchvision.models.video, arch)(weights=None)
        backbone.stem[0].stride = (1, 1, 1)
    backbone.fc = nn.Identity()
    projector = nn.Sequential(
        nn.Linear(512, 512, bias=False),
        nn.BatchNorm1d(512),
        nn.ReLU(inplace=True),
        nn.Linear(512, 128, bias=True),
    )
    return nn.Sequential(backbone, projector)


def nt_xent(z1, z2, temperature=0.2):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    idx = torch.arange(n, device=z.device)
    target = torch.cat([idx + n, idx])  # row i's positive is the other view
    return F.cross_entropy(sim, target)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format for the model and inputs")
    ap.add_argument("--count-flops", action="store_true", help="also count one step's FLOPs (FlopCounterMode)")
    ap.add_argument("--arch", choices=["resnet18", "r3d_18", "r2plus1d_18"], default="resnet18")
    ap.add_argument("--frames", type=int, default=8, help="clip length of the video networks")
    args = ap.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)

    model = make_model(args.arch).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-6)
    shape = (args.batch, 3, 32, 32) if args.arch == "resnet18" else (args.batch, 3, args.frames, 32, 32)
    x1 = torch.randn(*shape, device=device)
    x2 = torch.randn(*shape, device=device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x1 = x1.contiguous(memory_format=torch.channels_last)
        x2 = x2.contiguous(memory_format=torch.channels_last)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = nt_xent(model(x1), model(x2))
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    seconds = time.perf_counter() - t0
    flops = None
    if args.count_flops:
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter:
            step()
        flops = counter.get_total_flops()

    print(json.dumps({
        "impl": "pytorch",
        "arch": args.arch,
        "batch": args.batch,
        "steps": args.steps,
        "seconds": round(seconds, 6),
        "steps_per_second": args.steps / seconds,
        "samples_per_second": args.steps * args.batch / seconds,
        "threads": torch.get_num_threads(),
        "channels_last": args.channels_last,
        "flops_per_step": flops,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
