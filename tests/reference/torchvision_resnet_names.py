"""Writes the state-dict names and shapes of torchvision's ResNet-18/34 (without `fc`), the
contract our backbones keep so that exported safetensors load into PyTorch.

Run: .venv/bin/python tests/reference/torchvision_resnet_names.py
"""
import json
import pathlib

import torchvision

out = {}
for name in ["resnet18", "resnet34"]:
    model = getattr(torchvision.models, name)(weights=None)
    out[name] = {k: list(v.shape) for k, v in model.state_dict().items() if not k.startswith("fc.")}
path = pathlib.Path(__file__).resolve().parents[2] / "crates/ssl-core/tests/fixtures/torchvision_resnet.json"
path.write_text(json.dumps(out, indent=0, sort_keys=True))
print(f"wrote {path}")
