"""Writes the state-dict names and shapes of torchvision's video networks R3D-18 and R(2+1)D-18
(without `fc`) and S3D (its `features`), the contract our 3-D backbones keep so that exported
safetensors load into PyTorch with strict=True.

Run: .venv/bin/python tests/reference/torchvision_video_resnet_names.py
"""
import json
import pathlib

import torchvision.models.video as video

out = {}
for ours, name in [("r3d-18", "r3d_18"), ("r2plus1d-18", "r2plus1d_18")]:
    model = getattr(video, name)(weights=None)
    out[ours] = {k: list(v.shape) for k, v in model.state_dict().items() if not k.startswith("fc.")}
model = video.s3d(weights=None)
out["s3d"] = {k: list(v.shape) for k, v in model.state_dict().items() if k.startswith("features.")}
path = pathlib.Path(__file__).resolve().parents[2] / "crates/ssl-vision/tests/fixtures/torchvision_video_resnet.json"
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps(out, indent=0, sort_keys=True))
print(f"wrote {path}")
