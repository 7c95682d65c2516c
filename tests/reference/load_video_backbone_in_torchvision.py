"""Loads a 3-D backbone's safetensors into torchvision's video ResNet or S3D with `strict=True`
(`fc` / S3D's pooling and classifier replaced by Identity; for the small-input stem the first
convolution's stride set to 1),
runs it on the clips of an `.npy` file and compares with our features.

Run: .venv/bin/python tests/reference/load_video_backbone_in_torchvision.py WEIGHTS ARCH SMALL_STEM CLIPS.npy FEATURES.npy
"""
import sys

import numpy as np
import safetensors.torch
import torch
import torchvision.models.video as video

path, arch, small = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
model = getattr(video, arch)(weights=None)
if arch == "s3d":
    # Features averaged over time and space: no pooling window, no classifier.
    model.avgpool, model.classifier = torch.nn.Identity(), torch.nn.Identity()
    if small:
        model.features[0][0][0].stride = (1, 1, 1)
        model.features[0][1][0].stride = (1, 1, 1)
else:
    model.fc = torch.nn.Identity()
    if small:
        model.stem[0].stride = (1, 1, 1)
state = safetensors.torch.load_file(path)
state = {k: (v.long() if k.endswith("num_batches_tracked") else v) for k, v in state.items()}
model.load_state_dict(state, strict=True)
print(f"loaded {len(state)} tensors into torchvision {arch} with strict=True")
x = torch.from_numpy(np.load(sys.argv[4]))
want = torch.from_numpy(np.load(sys.argv[5]))
with torch.no_grad():
    got = model.eval()(x)
err = (got - want).abs().max().item()
print(f"max |torchvision - ours| = {err:.2e} over {tuple(got.shape)}")
assert err < 1e-4, err
