#!/usr/bin/env bash
# Installs libtorch 2.13.0 (the version tch 0.26 is built against) from PyPI into a
# project-local virtual environment, and links it as ./libtorch for tch's build.
#
#   SSL_TORCH_VARIANT=auto (default) | cpu | cuda
#     auto: the full CUDA wheel where `nvidia-smi` works, the CPU route elsewhere.
#     cpu:  torch without its CUDA dependencies, plus the two CUDA runtime libraries
#           that libtorch_cpu.so links against (~1.2 GB instead of ~4.7 GB).
#   SSL_VENV=path   where the venv lives (default .venv in the repository root).
#   SSL_PYTHON_TORCH=1  also make `import torch` work in Python (benchmarks, fixture
#           scripts): installs torch's remaining dependencies and torchvision.
#
# Idempotent: does nothing when the right torch is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
TORCH_VERSION=2.13.0
CUDA_RUNTIME="cuda-toolkit[cudart,cupti]==13.0.3"
venv="${SSL_VENV:-$root/.venv}"
variant="${SSL_TORCH_VARIANT:-auto}"
if [ "$variant" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then variant=cuda; else variant=cpu; fi
fi
case "$variant" in cpu|cuda) ;; *) echo "SSL_TORCH_VARIANT must be auto, cpu or cuda (got '$variant')" >&2; exit 2;; esac

py="$venv/bin/python"
if [ ! -x "$py" ]; then
  echo "setup: creating virtual environment at $venv" >&2
  python3 -m venv "$venv"
  "$py" -m pip install -q --upgrade pip
fi

# Never `import torch` here: on the CPU route Python's torch cannot load (it needs the
# CUDA libraries that the Rust side does not), while libtorch itself is complete.
have="$("$py" -c 'import importlib.metadata as m,sys; sys.stdout.write(m.version("torch"))' 2>/dev/null || true)"
marker="$venv/.ssl-torch-variant"
if [ "${have%%+*}" != "$TORCH_VERSION" ] || [ "$(cat "$marker" 2>/dev/null)" != "$variant" ]; then
  echo "setup: installing torch $TORCH_VERSION ($variant) into $venv" >&2
  # Pure-Python dependencies of torch itself, and what our reference scripts use.
  "$py" -m pip install -q "numpy<3" filelock typing-extensions sympy networkx jinja2 fsspec safetensors pillow
  if [ "$variant" = cuda ]; then
    "$py" -m pip install -q "torch==$TORCH_VERSION"
  else
    "$py" -m pip install -q --no-deps "torch==$TORCH_VERSION"
    "$py" -m pip install -q "$CUDA_RUNTIME"
  fi
  echo "$variant" > "$marker"
fi

if [ "${SSL_PYTHON_TORCH:-0}" = 1 ] && ! "$py" -c 'import torch, torchvision' >/dev/null 2>&1; then
  echo "setup: installing the Python side of torch $TORCH_VERSION and torchvision" >&2
  "$py" -m pip install -q "torch==$TORCH_VERSION" "torchvision==0.28.0"
fi

torch_dir="$("$py" -c 'import importlib.util as u; print(u.find_spec("torch").submodule_search_locations[0])')"
if [ ! -f "$torch_dir/lib/libtorch_cpu.so" ] || [ ! -d "$torch_dir/include/torch" ]; then
  echo "setup: $torch_dir does not hold libtorch (lib/libtorch_cpu.so, include/torch)" >&2
  exit 1
fi
ln -sfn "$torch_dir" "$root/libtorch"
echo "setup: libtorch $TORCH_VERSION ($variant) at $root/libtorch -> $torch_dir" >&2
