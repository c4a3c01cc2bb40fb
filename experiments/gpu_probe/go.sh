#!/bin/bash
# GPU probe: three recipes side by side on one GPU. Usage: bash experiments/gpu_probe/go.sh PYTHON [extra train args]
PY=$1; shift
R=$(pwd)
export PYTHONPATH=$R/shared${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export WASTESORT_DATA__ROOT=$R/.gpu/data/trashnet WASTESORT_DATA__BACKGROUNDS=$R/.gpu/data/backgrounds
export WASTESORT_DATA__CACHE_DIR=/tmp/wcache WASTESORT_STORE__URI=file:/tmp/wstore
OUT=${OUT:-/tmp/gpuout}; L=/tmp/wlogs; mkdir -p $OUT /tmp/wruns $L
T0=$(date +%s)
$PY - <<'PY' 2>&1 | tail -3
import os, time
from wastesort.data import load_samples
from wastesort.settings import get_settings
from wastesort_trainer.segment import MaskCache
t = time.time(); s = get_settings()
MaskCache(s.data.cache_dir / "masks").warm([x.path for x in load_samples(s.data.root)], workers=os.cpu_count())
print(f"masks warm in {time.time() - t:.0f}s")
PY
for c in A B C; do
  ( timeout ${TRAIN_LIMIT:-420} $PY -m wastesort_trainer.cli train -c experiments/gpu_probe/$c.yaml --weights file:$R/.gpu/lite2_fp16.safetensors \
      --out /tmp/wruns/$c --no-resume "$@" > $L/$c.log 2>&1
    echo "train rc=$? at $(( $(date +%s) - T0 ))s" >> $L/$c.log
    $PY -m wastesort_trainer.cli evaluate /tmp/wruns/$c $EVAL_ARGS --report /tmp/wruns/eval-$c.json >> $L/$c.log 2>&1
    $PY -c "
import json; from pathlib import Path; from safetensors.torch import load_file, save_file
r = Path('/tmp/wruns/$c'); sd = load_file(str(r / 'best/model.safetensors'))
save_file({k: v.half() if v.is_floating_point() else v for k, v in sd.items()}, '$OUT/$c.safetensors')
rd = lambda p: json.loads(p.read_text()) if p.is_file() else None
json.dump({'eval': rd(Path('/tmp/wruns/eval-$c.json')), 'card': rd(r / 'best/config.json'), 'history': rd(r / 'history.json')}, open('$OUT/$c.json', 'w'), indent=1)
" >> $L/$c.log 2>&1
    echo "done at $(( $(date +%s) - T0 ))s" >> $L/$c.log ) &
done
wait
for c in A B C; do echo "== $c"; tr '\r' '\n' < $L/$c.log | grep -v -E "it/s\]|s/it\]" ; done > $OUT/all.log
for c in A B C; do echo "== $c"; tr '\r' '\n' < $L/$c.log | grep -E "epoch [0-9]+/[0-9]+  train|rc=|done at|Error|error|accuracy|early" | tail -14; done
echo "total $(( $(date +%s) - T0 ))s" 
