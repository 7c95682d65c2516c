"""Loads a `backbone.safetensors` exported by a ResNet run into torchvision's ResNet with
`strict=True` (`fc` replaced by Identity, and for the small-image stem a 3x3 conv1 and
no max-pool), runs it on the images of an `.npy` file and compares with our features.

Run: .venv/bin/python tests/reference/load_backbone_in_torchvision.py BACKBONE ARCH SMALL_STEM IN_CH [INPUTS.npy FEATURES.npy]
"""
import sys

import numpy as np
import safetensors.torch
import torch
import torchvision

path, arch, small, in_ch = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
model = getattr(torchvision.models, arch)(weights=None)
model.fc = torch.nn.Identity()
if small:
    model.conv1 = torch.nn.Conv2d(in_ch, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
elif in_ch != 3:
    model.conv1 = torch.nn.Conv2d(in_ch, 64, 7, 2, 3, bias=False)
state = safetensors.torch.load_file(path)
state = {k: (v.long() if k.endswith("num_batches_tracked") else v) for k, v in state.items()}
model.load_state_dict(state, strict=True)
print(f"loaded {len(state)} tensors into torchvision {arch} with strict=True")
if len(sys.argv) > 6:
    x = torch.from_numpy(np.load(sys.argv[5]))
    want = torch.from_numpy(np.load(sys.argv[6]))
    with torch.no_grad():
        got = model.eval()(x)
    err = (got - want).abs().max().item()
    print(f"max |torchvision - ours| = {err:.2e} over {tuple(got.shape)}")
    assert err < 1e-4, err
