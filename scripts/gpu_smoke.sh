#!/usr/bin/env bash
# scripts/gpu_smoke.sh [OUT]
#
# A quick check that limner trains and generates on this machine's GPU: 50 bf16 (autocast) training steps of the
# shipped model's prior at batch 64, with data rendered by data-loader workers on the CPU cores, then one
# generation, printing training throughput (images/s), peak GPU memory and the generation's wall time. Runs
# `python3` unless PY is set, with limner from this checkout (PYTHONPATH; nothing is installed). OUT (default
# /tmp/limner-gpu-smoke) receives the run and the image.
set -euo pipefail
OUT=${1:-/tmp/limner-gpu-smoke}
PY=${PY:-python3}
W=limner/weights/limner-small.safetensors
CORES=$(nproc)
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
rm -rf "$OUT" && mkdir -p "$OUT"
$PY -m limner.cli.main train prior --device "${DEVICE:-cuda}" --tokenizer $W --init $W --out "$OUT/prior" --steps 50 \
  --batch-size 64 --lr 1e-4 --warmup 5 --workers $(( CORES > 3 ? CORES - 2 : 1 )) --log-every 10 --save-every 1000
$PY - "$OUT/prior/log.jsonl" <<'PY'
import json, sys
recs = [json.loads(x) for x in open(sys.argv[1])][1:]  # the first 10 steps include start-up
ips = sum(r["images_per_s"] for r in recs) / len(recs)
mem = max(r.get("gpu_peak_gb", 0.0) for r in recs)
print(f"train: {ips:.0f} images/s over steps 11-50, {recs[-1]['s_per_step'] * 1e3:.0f} ms/step, peak GPU {mem:.2f} GB")
PY
t0=$(date +%s%N)
$PY -m limner.cli.main generate "a red star above a blue ring" --device "${DEVICE:-cuda}" --seed 1 -o "$OUT/smoke.png"
t1=$(date +%s%N)
echo "generate: $(( (t1 - t0) / 1000000 )) ms wall for one image, model loading and process start included"
