#!/usr/bin/env python3
"""PyTorch reference for the speaker training-step benchmark.

The same SSReg step as `ssl-audio bench-speaker-step`: a small ECAPA-TDNN (conv-ReLU-BN
TDNN layers, three SE-Res2Net blocks with dilations 2/3/4 and 8 sub-bands, multi-layer
aggregation, attentive statistics pooling with global context, 192-d embedding), a
projector 192-512(BN, ReLU)-128 and a predictor 128-128(BN, ReLU)-128, NT-Xent (t=0.1)
plus the stop-gradient regulariser, AdamW. Inputs are two views [batch, frames, bins].
Prints one JSON line with the throughput and the parameter count (which must equal ours).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Tdnn(nn.Module):
    def __init__(self, c_in, c_out, k, d):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, k, dilation=d, padding=d * (k - 1) // 2)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x):
        return self.bn(F.relu(self.conv(x)))


class SeRes2(nn.Module):
    def __init__(self, c, d, scale=8):
        super().__init__()
        self.scale = scale
        self.reduce = Tdnn(c, c, 1, 1)
        self.bands = nn.ModuleList([Tdnn(c // scale, c // scale, 3, d) for _ in range(scale - 1)])
        self.expand = Tdnn(c, c, 1, 1)
        b = min(128, c)
        self.squeeze = nn.Conv1d(c, b, 1)
        self.excite = nn.Conv1d(b, c, 1)

    def forward(self, x):
        chunks = self.reduce(x).chunk(self.scale, 1)
        out = [chunks[0]]
        for i, band in enumerate(self.bands):
            out.append(band(chunks[1] if i == 0 else chunks[i + 1] + out[-1]))
        h = self.expand(torch.cat(out, 1))
        s = torch.sigmoid(self.excite(F.relu(self.squeeze(h.mean(2, keepdim=True)))))
        return h * s + x


def stats(x, w=None):
    if w is None:
        mean = x.mean(2)
        var = ((x - mean.unsqueeze(2)) ** 2).mean(2)
    else:
        mean = (x * w).sum(2)
        var = (x * x * w).sum(2) - mean * mean
    return torch.cat([mean, var.clamp(min=1e-5).sqrt()], 1)


class Ecapa(nn.Module):
    def __init__(self, bins, c):
        super().__init__()
        att = min(128, c)
        self.input = Tdnn(bins, c, 5, 1)
        self.blocks = nn.ModuleList([SeRes2(c, d) for d in (2, 3, 4)])
        self.aggregate = Tdnn(3 * c, 3 * c, 1, 1)
        self.attention = Tdnn(9 * c, att, 1, 1)
        self.attention_out = nn.Conv1d(att, 3 * c, 1)
        self.pooled_bn = nn.BatchNorm1d(6 * c)
        self.embedding = nn.Linear(6 * c, 192)

    def forward(self, x):
        x = self.input(x.transpose(1, 2))
        outs = []
        for b in self.blocks:
            x = b(x)
            outs.append(x)
        h = self.aggregate(torch.cat(outs, 1))
        t = h.shape[2]
        context = torch.cat([h, stats(h).unsqueeze(2).expand(-1, -1, t)], 1)
        w = torch.softmax(self.attention_out(torch.tanh(self.attention(context))), dim=2)
        return self.embedding(self.pooled_bn(stats(h, w)))


def mlp(d_in, hidden, out):
    return nn.Sequential(nn.Linear(d_in, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out))


def nt_xent(z1, z2, temperature):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.t() / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    idx = torch.arange(n, device=z.device)
    return F.cross_entropy(sim, torch.cat([idx + n, idx]))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--frames", type=int, default=98)
    ap.add_argument("--bins", type=int, default=40)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    encoder = Ecapa(args.bins, args.channels)
    projector = mlp(192, 512, 128)
    predictor = mlp(128, 128, 128)
    model = nn.ModuleList([encoder, projector, predictor]).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-5)
    x1 = torch.randn(args.batch, args.frames, args.bins, device=device)
    x2 = torch.randn(args.batch, args.frames, args.bins, device=device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        opt.zero_grad(set_to_none=True)
        z1, z2 = projector(encoder(x1)), projector(encoder(x2))
        p1, p2 = predictor(z1), predictor(z2)
        ssreg = -0.5 * (F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean())
        loss = nt_xent(z1, z2, 0.1) + ssreg
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    elapsed = time.perf_counter() - t0
    print(json.dumps({
        "steps_per_second": args.steps / elapsed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
