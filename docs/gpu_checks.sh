#!/usr/bin/env bash
# Every GPU check of this project in one run, for a session that is lent a CUDA machine.
#
# On the lent machine (its python3 holds CUDA torch and Triton, but no bitsandbytes and an older
# transformers; it cannot download), carry the wheels this script installs. Once, here:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 --platform any -d .whl \
#     transformers==5.24.0 bitsandbytes==0.50.2 huggingface_hub==2.4.0 tokenizers==0.23.3 platformdirs
#   zip -d .whl/bitsandbytes-*.whl 'bitsandbytes/libbitsandbytes_cuda1[12]*' 'bitsandbytes/*rocm*'
# (the CUDA 13 libraries stay; the rest would push the carried files past 64 MiB). Then:
#   device run, carry [".whl"], timeout_s 560:  OUT=$OUT bash docs/gpu_checks.sh
# Elsewhere (network, no .whl): make a venv with `pip install torch -e ".[test]"` and set PY.
#
# Writes at most 8 files under $OUT; `python tools/gpu_report.py DIR` turns them into the tables of
# docs/benchmarks.md (add the date and these commands).
set -uo pipefail
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
PY="${PY:-python3}"
export PYTHONUNBUFFERED=1
LOG="$OUT/log.txt"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl >>"$LOG" 2>&1 || { echo "wheel install failed" >>"$LOG"; exit 1; }
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
step() { echo "== $(date +%T) $*" >>"$LOG"; }

step environment
{
    nvidia-smi
    "$PY" -c "import torch, transformers, bitsandbytes, triton; print('torch', torch.__version__, 'cuda', \
torch.version.cuda, torch.cuda.get_device_name()); print('transformers', transformers.__version__, \
'bitsandbytes', bitsandbytes.__version__, 'triton', triton.__version__)"
} >"$OUT/env.txt" 2>&1

# 0. What the doctor says about this machine (libraries, GPU, memory): the first thing to read.
step doctor
timeout 60 "$PY" -m engine doctor --model real-shape >>"$OUT/env.txt" 2>&1 || true

# 1. GPU tests: CUDA kernels agree with the CPU; the in-place entropy's bits at the real vocab size;
#    grouped and fused experts against transformers; the engine loop against generate on CUDA;
#    the context limit from free VRAM at load, and Engine.close() returning the memory.
step pytest
timeout 200 "$PY" -m pytest -q -p no:cacheprovider tests/engine/test_quant_gpu.py \
    tests/engine/test_fit.py tests/engine/test_model_errors.py -k "cuda" >"$OUT/pytest-gpu.txt" 2>&1

# 2. One layer's experts per path: picks EXPERTS_PER_GROUP["cuda"] and says whether the kernel wins.
step bench-experts
for tokens in 256 2048; do
    timeout 90 "$PY" -m engine bench-experts --groups 1,4,8,16,32,fused --tokens "$tokens" --json \
        >>"$OUT/bench-experts.jsonl" 2>>"$LOG"
done

# 3. The real 26B shape with random 4-bit weights under an 18 GiB cap: both experts paths at 1K
#    context, the automatic choice at 8K, each with the planner's prediction beside it.
step bench
for run in "1024 grouped" "1024 fused" "8192 auto"; do
    set -- $run
    DGCHAT_EXPERTS_PATH="$2" timeout 120 "$PY" -m engine bench --model real-shape --context "$1" \
        --steps 16 --canvases 4 --vram-cap-gib 18 --json >>"$OUT/bench.jsonl" 2>>"$LOG"
    "$PY" -m engine plan --model real-shape --context $(($1 + 1024)) --vram-gib 18 --json \
        | "$PY" -c "import json, sys; print(json.dumps(json.load(sys.stdin)))" >>"$OUT/plan.jsonl" 2>>"$LOG"
done

# 4. The engine loop end to end on the tiny checkpoint on CUDA, 4-bit (the loader's own path choice).
step generate
timeout 60 "$PY" -m engine make-tiny /tmp/tiny >>"$LOG" 2>&1
timeout 90 "$PY" -m engine generate --model /tmp/tiny --device cuda --prompt "Hello" --seed 1 --jsonl \
    >"$OUT/generate-tiny-cuda.jsonl" 2>>"$LOG"
# 5. What deterministic CUDA kernels cost (engine/threads.py) and whether a seed repeats across processes:
#    the demo model, seed 1, twice with them and once without; one line each (seconds, canvases, token hash).
step deterministic
for mode in 1 1 0; do
    DGCHAT_DETERMINISTIC=$mode timeout 90 "$PY" -m engine generate --model demo --device cuda --seed 1 \
        --prompt "Write a poem about the sea." --jsonl 2>>"$LOG" | tail -n 1 | "$PY" -c "import json, sys, \
hashlib; d = json.loads(sys.stdin.read()); print(json.dumps({'deterministic': $mode, 'seconds': d['seconds'], \
'canvases': d['canvases'], 'tokens': hashlib.sha1(str(d['token_ids']).encode()).hexdigest()[:12]}))" \
        >>"$OUT/deterministic.jsonl" 2>>"$LOG"
done
step done
echo "done: results in $OUT"
