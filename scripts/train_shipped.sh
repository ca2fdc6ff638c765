#!/usr/bin/env bash
# The recipe of the shipped checkpoint (limner/weights/limner-small.safetensors), on a 2-core CPU.
# What shipped on 2026-11-22: tokenizer stage 325 steps (stopped early), prior 640 steps at batch 12
# (about 45 min on one core), decoder stage 1350 steps; one thread per stage, one stage per core.
# Each stage resumes from OUT/state.pt when re-run. Stage 2 and 3 can run at the same time (the
# tokenizer is frozen in both), e.g. pinned to one core each with `taskset -c 0` / `taskset -c 1`.
# To continue training the shipped model instead, pass `--init limner/weights/limner-small.safetensors`
# to the prior and decoder stages (with --tokenizer/--init pointing at the same file).
set -euo pipefail
L=${LIMNER:-.venv/bin/limner}
R=${RUNS:-runs}
$L train tokenizer --out "$R/tok" --size small --steps "${TOKENIZER_STEPS:-325}" --batch-size 8 --lr 6e-4 --warmup 30 --threads 1
$L train prior --tokenizer "$R/tok/model.safetensors" --out "$R/prior" --steps "${PRIOR_STEPS:-640}" \
   --batch-size 12 --lr 1e-3 --warmup 60 --threads 1 &
$L train decoder --init "$R/tok/model.safetensors" --out "$R/dec" --steps "${DECODER_STEPS:-1350}" \
   --batch-size 8 --lr 3e-4 --warmup 20 --threads 1 &
wait
$L export --prior "$R/prior/model.safetensors" --decoder "$R/dec/model.safetensors" \
   --out limner/weights/limner-small.safetensors
