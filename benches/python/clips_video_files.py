#!/usr/bin/env python3
"""Reference for the video-file clip benchmark: videos as files (MP4 / AVI), each giving two
clips of `--frames` frames at `--stride` from random starts, decoded the way a user would with
`--backend` pyav (decode from the start up to the last frame either clip needs, one pass) or
decord (`VideoReader.get_batch`, which seeks), each clip augmented as one by torchvision's
transforms.v2 on a `tv_tensors.Video` (random resized crop 0.08-1, flip, colour jitter
0.4/0.4/0.4/0.1 p=0.8, grey-scale p=0.2, normalise), in a DataLoader with `--workers`
processes (0: the main process). Prints one JSON line.
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

VIDEO_EXT = (".mp4", ".m4v", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".ogv")


def pipeline(size):
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(0.5),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(0.2),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([0.5], [0.5]),
    ])


def frame_count(path, backend):
    if backend == "decord":
        import decord
        return len(decord.VideoReader(path))
    import av
    with av.open(path) as c:
        return sum(1 for p in c.demux(video=0) if p.size > 0)


def decode(path, wanted, backend):
    """{index: uint8 [H, W, 3]} for the frame indices `wanted`."""
    if backend == "decord":
        import decord
        vr = decord.VideoReader(path)
        idx = sorted(wanted)
        return dict(zip(idx, vr.get_batch(idx).asnumpy()))
    import av
    last, out = max(wanted), {}
    with av.open(path) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= last:
                break
    return out


class Clips(torch.utils.data.Dataset):
    def __init__(self, videos, lengths, count, frames, stride, size, backend):
        self.videos, self.lengths, self.count = videos, lengths, count
        self.frames, self.stride, self.backend = frames, stride, backend
        self.augment = pipeline(size)

    def __len__(self):
        return self.count

    def __getitem__(self, i):
        v = i % len(self.videos)
        span = (self.frames - 1) * self.stride + 1
        starts = [random.randrange(0, self.lengths[v] - span + 1) for _ in range(2)]
        clips = [[s + k * self.stride for k in range(self.frames)] for s in starts]
        decoded = decode(self.videos[v], set(clips[0]) | set(clips[1]), self.backend)
        views = []
        for idx in clips:
            clip = torch.from_numpy(np.stack([decoded[f] for f in idx])).permute(0, 3, 1, 2)
            views.append(self.augment(tv_tensors.Video(clip)).permute(1, 0, 2, 3))  # [C, T, H, W]
        return views[0], views[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--backend", choices=["pyav", "decord"], default="pyav")
    ap.add_argument("--videos", type=int, default=64)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--stride", type=int, default=2)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(1)
    videos = sorted(os.path.join(args.dir, f) for f in os.listdir(args.dir) if f.lower().endswith(VIDEO_EXT))
    lengths = [frame_count(v, args.backend) for v in videos]
    random.seed(0)
    torch.manual_seed(0)
    data = Clips(videos, lengths, args.videos, args.frames, args.stride, args.size, args.backend)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, num_workers=args.workers, shuffle=False,
                                         persistent_workers=args.workers > 0)
    warm = iter(loader)
    for _ in range(max(1, args.workers)):
        next(warm, None)
    del warm
    t0 = time.perf_counter()
    n = 0
    for a, b in loader:
        assert a.shape[1:] == (3, args.frames, args.size, args.size), a.shape
        n += a.shape[0]
    dt = time.perf_counter() - t0
    print(json.dumps({"videos_per_second": n / dt, "videos": n, "seconds": dt, "workers": args.workers,
                      "backend": args.backend, "frames_per_video": lengths, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
