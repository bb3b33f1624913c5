#!/usr/bin/env bash
# Every GPU check of this project in one run, for a session that is lent a CUDA machine.
# Usage (from the repository root, on the GPU machine):  OUT=/some/dir bash docs/gpu_checks.sh
# Writes its results under $OUT (default ./gpu-results); copy the numbers into docs/benchmarks.md
# with the card name, date and these commands.
set -uo pipefail
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
PY="${PY:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv && .venv/bin/pip install -q torch -e ".[test]" >"$OUT/install.log" 2>&1
fi
V=.venv/bin/python
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1
$V -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())" >"$OUT/torch.txt" 2>&1
# 1. GPU tests (4-bit kernels, streamed model, bench agree with the CPU).
timeout 300 $V -m pytest -q -m gpu tests >"$OUT/pytest-gpu.txt" 2>&1
# 2. The real 26B shape with random 4-bit weights: peak VRAM and speed under an 18 GiB cap.
for ctx in 1024 8192; do
    timeout 600 $V -m engine bench --model real-shape --context "$ctx" --steps 16 --canvases 4 \
        --vram-cap-gib 18 --json >"$OUT/bench-real-shape-$ctx.json" 2>"$OUT/bench-real-shape-$ctx.log"
    $V -m engine plan --model real-shape --context $((ctx + 1024)) --vram-gib 18 --json \
        >"$OUT/plan-$ctx.json" 2>&1
done
# 2b. One layer's experts per group size: picks EXPERTS_PER_GROUP["cuda"] in engine/quant/modules.py.
for tokens in 256 2048; do
    timeout 300 $V -m engine bench-experts --groups 1,4,8,16,32,fused --tokens "$tokens" --json \
        >"$OUT/bench-experts-$tokens.json" 2>"$OUT/bench-experts-$tokens.log"
done
# 3. The engine loop end to end on the tiny checkpoint on CUDA (equivalence with generate on the GPU).
timeout 300 $V -m engine make-tiny "$OUT/tiny" >/dev/null 2>&1
timeout 300 $V -m engine generate --model "$OUT/tiny" --device cuda --no-quantize --prompt "Hello" \
    --seed 1 --jsonl >"$OUT/generate-tiny-cuda.jsonl" 2>"$OUT/generate-tiny-cuda.log"
echo "done: results in $OUT"
