#!/usr/bin/env bash
# scripts/gpu_train.sh STAGE MINUTES OUT [EXTRA limner train OPTIONS...]
#
# Train (or continue) one stage of the shipped model on one GPU for a fixed wall-clock budget, rendering its data
# on the machine's own CPU cores (all but two of them as data-loader workers). OUT receives a resumable
# checkpoint in files of at most 16 MB (model.safetensors and state.pt, each in parts when larger: every loader
# reads them), the log and, after the run, OUT/export.safetensors: the whole model in fp16 as `limner export`
# writes it (the shipped checkpoint's format), also in <= 16 MB parts. Running it again with the same OUT resumes.
#
#   prior     the transformer, continued from the shipped weights on the GenEval-weighted mix, captions paraphrased
#   decoder   the diffusion decoder, continued from the shipped weights on the tokenizer's codes of true renders
#   decoder-own  the same, half of its examples decoded from codes the shipped prior samples for them
#             (--prior-codes 0.5, train/prior_codes.py: the codes the default native path gives the decoder)
#   tokenizer the FSQ tokenizer + decoder from scratch at the small size (a new tokenizer needs a new prior)
#
# EXTRA options go to `limner train` after the defaults, so they override them (e.g. --batch-size 128 --lr 2e-3).
# Runs `python3` unless PY is set, and limner from this checkout via PYTHONPATH (nothing is installed): a GPU
# machine's own PyTorch build with CUDA is used as it is. See docs/guide/training.md.
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n 2,20p "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
STAGE=$1 MIN=$2 OUT=$3
shift 3
PY=${PY:-python3}
W=${WEIGHTS:-limner/weights/limner-small.safetensors}
CORES=$(nproc)
WORKERS=${WORKERS:-$(( CORES > 3 ? CORES - 2 : 1 ))}
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
MIX=single_object=1.5,two_object=1.5,counting=1.5,colors=1.5,position=1.5,color_attr=1.5,hex_color=2,text=1,\
dense_grid=2,multi=0.5
COMMON=(--device "${DEVICE:-cuda}" --minutes "$MIN" --steps 1000000 --warmup 100 --log-every 50 --save-every 500
        --max-file-mb 16 --workers "$WORKERS" --out "$OUT")
case "$STAGE" in
  prior) ARGS=(prior --tokenizer "$W" --init "$W" --batch-size 64 --lr 1e-3 --novel-weight 3 --first-code-weight 1
               --paraphrase 0.5 --mix "$MIX") ;;
  decoder) ARGS=(decoder --init "$W" --batch-size 48 --lr 4e-4) ;;
  decoder-own) ARGS=(decoder --init "$W" --batch-size 48 --lr 3e-4 --prior-codes 0.5) ;;
  tokenizer) ARGS=(tokenizer --size small --batch-size 32 --lr 1e-3 --flow-weight 1) ;;
  *) echo "unknown stage '$STAGE': expected prior, decoder, decoder-own or tokenizer" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
$PY -c "import torch; c = torch.cuda.is_available(); print('torch', torch.__version__, 'cuda', c, \
torch.cuda.get_device_name(0) if c else '', flush=True)"
$PY -m limner.cli.main train "${ARGS[@]}" "${COMMON[@]}" "$@"
if [ "$STAGE" != tokenizer ]; then
  if [ "$STAGE" = prior ]; then E=(--prior "$OUT/model.safetensors"); else E=(--prior "$W" --decoder "$OUT/model.safetensors"); fi
  $PY -m limner.cli.main export "${E[@]}" --out "$OUT/export.safetensors" --max-file-mb 16
fi
