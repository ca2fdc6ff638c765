#!/usr/bin/env bash
# Continue the shipped model on one GPU for a fixed wall-clock budget. Three runs share the GPU, each in its own
# process with its own data-loader workers (rendering scenes is CPU work; the GPU would otherwise wait on it),
# all continuing limner/weights/limner-small.safetensors with the tokenizer frozen:
#   prior    the transformer, on the GenEval-weighted mix with paraphrased captions;
#   dec      the diffusion decoder on the tokenizer's codes of true renders (half painted from the layout);
#   dec_own  the decoder where half of its examples are decoded from codes the shipped prior samples for them
#            (--prior-codes, train/prior_codes.py): the codes the default native path actually gives it.
#
#   MINUTES=7 RUNS=/tmp/runs OUT=out scripts/gpu_train.sh
#
# Writes, fp16 like the shipped file, OUT/prior.safetensors (new prior, shipped decoder), OUT/dec.safetensors and
# OUT/dec_own.safetensors (new prior with each new decoder), and OUT/logs.tgz (each run's log.jsonl and console).
# Compare them with `limner eval generation --checkpoint ...` before shipping one. Runs `python3` unless PY is set
# (a machine's own PyTorch build with CUDA; limner runs from this checkout via PYTHONPATH, nothing is installed).
set -uo pipefail
PY=${PY:-python3}
R=${RUNS:-runs/gpu}
OUT=${OUT:-$R}
MIN=${MINUTES:-7}
DEV=${DEVICE:-auto}
W=limner/weights/limner-small.safetensors
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
mkdir -p "$R" "$OUT"
L="$PY -m limner.cli.main"
MIX=single_object=1.5,two_object=1.5,counting=1.5,colors=1.5,position=1.5,color_attr=1.5,hex_color=2,text=1,\
dense_grid=2,multi=0.5
COMMON=(--device "$DEV" --minutes "$MIN" --steps 1000000 --warmup 100 --log-every 50 --save-every 500)
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
$L train prior "${COMMON[@]}" --tokenizer $W --init $W --out "$R/prior" --batch-size "${PRIOR_BATCH:-64}" \
  --lr "${PRIOR_LR:-1e-3}" --workers "${PRIOR_WORKERS:-8}" --novel-weight 3 --first-code-weight 1 \
  --paraphrase 0.5 --mix "$MIX" > "$R/prior.log" 2>&1 &
P=$!
$L train decoder "${COMMON[@]}" --init $W --out "$R/dec" --batch-size "${DECODER_BATCH:-48}" \
  --lr "${DECODER_LR:-4e-4}" --workers "${DECODER_WORKERS:-4}" > "$R/dec.log" 2>&1 &
D=$!
$L train decoder "${COMMON[@]}" --init $W --out "$R/dec_own" --batch-size "${DECODER_BATCH:-48}" \
  --lr "${DECODER_OWN_LR:-3e-4}" --workers "${DECODER_OWN_WORKERS:-1}" --prior-codes 0.5 \
  > "$R/dec_own.log" 2>&1 &
O=$!
(sleep 120; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv 2>/dev/null; uptime) &
MON=$!
for j in prior:$P dec:$D dec_own:$O; do
  wait "${j#*:}"; echo "${j%%:*} exit $?"; tail -n 2 "$R/${j%%:*}.log"
done
NEWP=$W
[ -f "$R/prior/model.safetensors" ] && NEWP="$R/prior/model.safetensors"
[ -f "$R/prior/model.safetensors" ] && $L export --prior "$NEWP" --out "$OUT/prior.safetensors"
for d in dec dec_own; do
  [ -f "$R/$d/model.safetensors" ] && $L export --prior "$NEWP" --decoder "$R/$d/model.safetensors" \
    --out "$OUT/$d.safetensors"
done
tar czf "$OUT/logs.tgz" -C "$R" --ignore-failed-read prior.log dec.log dec_own.log prior/log.jsonl dec/log.jsonl \
  dec_own/log.jsonl 2>/dev/null
kill "$MON" 2>/dev/null
ls -la "$OUT"
