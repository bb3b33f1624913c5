#!/usr/bin/env bash
# Every GPU check of this project in one run, for a session that is lent a CUDA machine.
#
# On the lent machine (its python3 holds CUDA torch and Triton, but no bitsandbytes and an older
# transformers; it cannot download), carry the wheels this script installs. Once, here (.whl/ is
# git-ignored; never commit the wheels):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 --platform any -d .whl \
#     transformers==5.24.0 bitsandbytes==0.50.2 huggingface_hub==2.4.0 tokenizers==0.23.3 platformdirs \
#     httpx2==2.17.0 httpcore2==2.17.0 truststore==0.10.5
#   zip -d .whl/bitsandbytes-*.whl 'bitsandbytes/libbitsandbytes_cuda1[12]*' 'bitsandbytes/*rocm*'
# (the CUDA 13 libraries stay; the rest would push the carried files past 64 MiB: 25 MB in all, 3 s
# here on 2026-12-06). huggingface_hub 2.x imports httpx2 (which needs httpcore2 and truststore);
# the lent image has only httpx, so without those three `import transformers` fails there. Then:
#   device run, carry [".whl"], timeout_s 600:  OUT=$OUT bash docs/gpu_checks.sh
# then `python tools/gpu_report.py <files_at>` here. Expected ~5 min of the 15 (plus ~1-2 min to start
# the machine), which leaves room for one rerun; BUDGET_S=300 makes a rerun shorter.
# Elsewhere (network, no .whl): make a venv with `pip install torch -e ".[test]"` and set PY.
#
# Rehearsal, on any CPU machine (no CUDA; ~2 minutes on 2 cores): every step's plumbing
# with the tiny checkpoint and tiny sizes, writing the same files in the same formats:
#   REHEARSE=1 OUT=/tmp/r PY=.venv/bin/python bash docs/gpu_checks.sh && python tools/gpu_report.py /tmp/r
# (CUDA-only tests are recorded by pytest as skipped; the fused kernel runs in Triton's interpreter;
# wheels in .whl/, if there, are installed as on the GPU, which checks the carried versions.)
#
# Expected time on one H100, step by step, from the rehearsal's timings and the physics of
# /work/shared/CONTEXT.md §3 (how each was estimated: docs/benchmarks.md, "Time budget of
# docs/gpu_checks.sh"). Each step's `timeout` is its cap, and no step runs past BUDGET_S (default
# 540 s): the run ends inside a 600 s device call with the numbers of every step that finished.
#   step                  expected  cap      step                  expected  cap
#   wheels                  5 s     60 s     bench, 3 runs         3 × 30 s  100 s each
#   environment             8 s     30 s     plan, 3 runs          3 × 6 s   20 s each
#   doctor                  8 s     30 s     generate (tiny)          10 s   45 s
#   make-tiny               6 s     30 s     deterministic, 3 runs 3 × 10 s  40 s each
#   pytest (CUDA tests)    60 s    120 s
#   bench-experts 256      25 s     60 s     in all: about 280 s expected, 540 s at most
#   bench-experts 2048     20 s     60 s
#
# Writes at most 8 files under $OUT, each appended as its step finishes (a run cut off still leaves
# the numbers of the steps before); `python tools/gpu_report.py DIR` turns them into the tables of
# docs/benchmarks.md (add the date and these commands). Never waits for input: stdin is /dev/null.
set -uo pipefail
exec </dev/null
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
PY="${PY:-python3}"
REHEARSE="${REHEARSE:-0}"
BUDGET_S="${BUDGET_S:-540}"
export PYTHONUNBUFFERED=1 PIP_NO_INPUT=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
LOG="$OUT/log.txt"
DEADLINE=$(($(date +%s) + BUDGET_S))
TINY="${TMPDIR:-/tmp}/dgchat-tiny-$$"

if [ "$REHEARSE" = 1 ]; then
    # Same steps, CPU-sized: a 4-layer tiny checkpoint instead of the 26B shape, one small MoE layer.
    DEVICE=cpu
    EXPERTS_SHAPE=(--hidden 128 --intermediate 64 --experts 16 --top-k 4 --repeats 2)
    EXPERTS_TOKENS="64 256"
    BENCH_MODEL="$TINY"
    BENCH_RUNS=("64 grouped" "64 fused" "256 auto")
    BENCH_SHAPE=(--steps 4 --canvases 2)
    CANVASES=2
    INTERPRET=1
else
    DEVICE=cuda
    EXPERTS_SHAPE=()
    EXPERTS_TOKENS="256 2048"
    BENCH_MODEL=real-shape
    BENCH_RUNS=("1024 grouped" "1024 fused" "8192 auto")
    BENCH_SHAPE=(--steps 16 --canvases 4)
    CANVASES=4
    INTERPRET=0
fi

step() { echo "== $(date +%T) $*" >>"$LOG"; }

# Run "$@" under `timeout`, capped at $1 seconds and at what is left of BUDGET_S; a step that would
# start with under 5 s left is skipped with a line in the log (exit 124, as a timeout).
capped() {
    local cap=$1 left
    shift
    left=$((DEADLINE - $(date +%s)))
    ((left < cap)) && cap=$left
    if ((cap < 5)); then
        echo "skipped (time budget of ${BUDGET_S} s spent): $*" >>"$LOG"
        return 124
    fi
    timeout -k 5 "$cap" "$@"
}

step "start (rehearsal: $REHEARSE, device: $DEVICE, budget: ${BUDGET_S} s)"
# The carried wheels (the rehearsal installs them too, when .whl is there: it checks the versions).
# WHEELS names another folder (an empty one: none).
SITE=""
WHEELS="${WHEELS:-.whl}"
if [ -d "$WHEELS" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    step wheels
    SITE="$(mktemp -d)"
    capped 60 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "$WHEELS"/*.whl >>"$LOG" 2>&1 || { echo "wheel install failed" >>"$LOG"; exit 1; }
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi

step environment
{
    if command -v nvidia-smi >/dev/null; then nvidia-smi; else echo "nvidia-smi: not found (no CUDA driver)"; fi
    capped 30 "$PY" -c "
import torch, transformers, bitsandbytes
try:
    import triton
    triton_version = triton.__version__
except ImportError:
    triton_version = 'not installed'
card = torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA'
print('torch', torch.__version__, 'cuda', torch.version.cuda, card)
print('transformers', transformers.__version__, 'bitsandbytes', bitsandbytes.__version__, 'triton', triton_version)"
} >"$OUT/env.txt" 2>&1

# 0. What the doctor says about this machine (libraries, GPU, memory): the first thing to read.
step doctor
capped 30 "$PY" -m engine doctor --model real-shape >>"$OUT/env.txt" 2>&1

# The tiny checkpoint: the bench of the rehearsal and the generate step below load it.
step make-tiny
capped 30 "$PY" -m engine make-tiny "$TINY" >>"$LOG" 2>&1

# 1. GPU tests: CUDA kernels agree with the CPU; the in-place entropy's bits at the real vocab size;
#    grouped and fused experts against transformers; the engine loop against generate on CUDA;
#    the context limit from free VRAM at load, and Engine.close() returning the memory.
#    Without CUDA (the rehearsal) pytest records each of them as skipped ("needs a CUDA device").
step pytest
capped 120 "$PY" -m pytest -q -p no:cacheprovider tests/engine/test_quant_gpu.py \
    tests/engine/test_fit.py tests/engine/test_model_errors.py -k "cuda" >"$OUT/pytest-gpu.txt" 2>&1

# 2. One layer's experts per path: picks EXPERTS_PER_GROUP["cuda"] and says whether the kernel wins.
#    The rehearsal runs the fused kernel in Triton's interpreter (arithmetic, not speed).
for tokens in $EXPERTS_TOKENS; do
    step "bench-experts $tokens"
    TRITON_INTERPRET=$INTERPRET capped 60 "$PY" -m engine bench-experts \
        --groups 1,4,8,16,32,fused --tokens "$tokens" "${EXPERTS_SHAPE[@]}" --device "$DEVICE" --json \
        >>"$OUT/bench-experts.jsonl" 2>>"$LOG"
done

# 3. The real 26B shape with random 4-bit weights under an 18 GiB cap: both experts paths at 1K
#    context, the automatic choice at 8K, each with the planner's prediction beside it (for the
#    context the cache holds by the last canvas: the prompt plus the committed canvases).
for run in "${BENCH_RUNS[@]}"; do
    set -- $run
    step "bench $1 $2"
    DGCHAT_EXPERTS_PATH="$2" capped 100 "$PY" -m engine bench --model "$BENCH_MODEL" --device "$DEVICE" \
        --context "$1" "${BENCH_SHAPE[@]}" --vram-cap-gib 18 --json >>"$OUT/bench.jsonl" 2>>"$LOG"
    capped 20 "$PY" -m engine plan --model "$BENCH_MODEL" --context $(($1 + CANVASES * 256)) \
        --vram-gib 18 --json 2>>"$LOG" \
        | "$PY" -c "import json, sys; print(json.dumps(json.load(sys.stdin)))" >>"$OUT/plan.jsonl" 2>>"$LOG"
done

# 4. The engine loop end to end on the tiny checkpoint, 4-bit on CUDA (the loader's own path choice).
step generate
capped 45 "$PY" -m engine generate --model "$TINY" --device "$DEVICE" --prompt "Hello" --seed 1 --jsonl \
    >"$OUT/generate-tiny-cuda.jsonl" 2>>"$LOG"

# 5. What deterministic CUDA kernels cost (engine/threads.py) and whether a seed repeats across processes:
#    the demo model, seed 1, twice with them and once without; one line each (seconds, canvases, token hash).
for mode in 1 1 0; do
    step "deterministic $mode"
    DGCHAT_DETERMINISTIC=$mode capped 40 "$PY" -m engine generate --model demo --device "$DEVICE" --seed 1 \
        --prompt "Write a poem about the sea." --jsonl 2>>"$LOG" | tail -n 1 \
        | "$PY" -c "import json, sys, hashlib; d = json.loads(sys.stdin.read()); print(json.dumps({ \
'deterministic': $mode, 'seconds': d['seconds'], 'canvases': d['canvases'], \
'tokens': hashlib.sha1(str(d['token_ids']).encode()).hexdigest()[:12]}))" >>"$OUT/deterministic.jsonl" 2>>"$LOG"
done
rm -rf "$TINY" ${SITE:+"$SITE"}
step done
echo "done: results in $OUT"
