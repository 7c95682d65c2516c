#!/usr/bin/env bash
# UniGrad at the objectives table's budget (300 steps of batch 128 on Fashion-MNIST): its
# push weight lambda, correlation momentum rho, target momentum, learning rate and warm-up,
# one change at a time from the defaults, each pre-trained with the seeds in $SEEDS and
# evaluated with the validated linear probe and kNN. Writes docs/unigrad-ablation.md.
# Usage: experiments/unigrad-ablation.sh [NAME ...]   (default: every setting below)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin=target/release/ssl-vision
data=${DATA:-datasets/cache/fashion-mnist}
steps=${STEPS:-300}
seeds=${SEEDS:-0}
out=${OUT:-runs/unigrad-ablation}
# name | --set assignments (space-separated)
settings=(
  "default|"
  "lambda=10|model.options.lambda=10"
  "lambda=1|model.options.lambda=1"
  "rho=0.9|model.options.rho=0.9"
  "momentum=0.996|model.options.momentum=0.996"
  "lr=1e-3|train.lr=0.001"
  "warmup=150|train.warmup_steps=150"
)
want=("$@")
for entry in "${settings[@]}"; do
  name=${entry%%|*}; sets=${entry#*|}
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
  for seed in $seeds; do
    run="$out/$name/seed-$seed"
    if [ ! -f "$run/eval.json" ]; then
      args=()
      for s in $sets; do args+=(--set "$s"); done
      "$bin" pretrain --method unigrad --data "$data" --out "$run" --steps "$steps" --seed "$seed" --threads "${THREADS:-0}" --quiet --resume "${args[@]}"
      "$bin" eval --run "$run" --data "$data"
    fi
  done
done
python3 - "$out" "$steps" <<'PY'
import json, pathlib, statistics, sys
out, steps = pathlib.Path(sys.argv[1]), sys.argv[2]
def cell(v):
    v = [100 * x for x in v]
    return f"{statistics.mean(v):.2f}" + (f" ± {statistics.stdev(v):.2f}" if len(v) > 1 else "")
rows = []
for d in sorted(p for p in out.iterdir() if p.is_dir()):
    reps = [json.loads(f.read_text()) for f in sorted(d.glob("seed-*/eval.json"))]
    if reps:
        rows.append(f"| {d.name} | {cell([r['knn_top1'] for r in reps])} | {cell([r['linear_top1'] for r in reps])} | {len(reps)} |")
doc = pathlib.Path("docs/unigrad-ablation.md")
text = doc.read_text() if doc.exists() else ""
marker = "<!-- table -->"
table = f"{marker}\n| setting | kNN top-1 (%) | linear top-1 (%) | seeds |\n|---|---|---|---|\n" + "\n".join(rows) + f"\n{marker}"
if text.count(marker) == 2:
    a, _, b = text.split(marker, 2)
    text = a + table + b
else:
    text = f"# UniGrad ablation\n\n{steps} steps of batch 128, Fashion-MNIST; command: `experiments/unigrad-ablation.sh`\n\n{table}\n"
doc.write_text(text)
print(table)
PY
