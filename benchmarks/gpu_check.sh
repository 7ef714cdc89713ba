#!/usr/bin/env bash
# The GPU check: from a bare checkout on a machine with one NVIDIA GPU, installs what it needs, runs the GPU
# paths of the suite (smoke set, mixed precision, mirrored strategy, a tuned case, GPU against CPU throughput)
# and writes OUT/gpu_check-summary.json and .md. Exits 0 only if every check passed. About 8 minutes at most.
# The checks themselves are benchmarks/gpu_check.py (standard library only), tested on CPU in CI.
set -uo pipefail

usage() {
  cat <<'EOF'
usage: bash benchmarks/gpu_check.sh [--out DIR] [--skip-install] [--dry-run] [--help]

From the repository root of a bare checkout on a machine with one NVIDIA GPU:
  1. a virtual environment .venv-gpu with pip install -e ".[dev,ray]", plus tensorflow[and-cuda] (same
     version) if TensorFlow does not see the GPU;
  2. suite run simple_cnn.scratch.digits resnet50.scratch.digits mobilenet_v2.finetune.digits
     --profile smoke --device gpu, then checks the rows: ok on the GPU, device_name naming it,
     peak_gpu_mb > 0, mixed_float16 and mixed_bfloat16 rows in throughput/*.csv;
  3. ResNet50 images/s at batch 32 on the GPU and, in a second process that sees no GPU, on the CPU:
     the GPU must be faster;
  4. simple_cnn.scratch.digits with --strategy mirrored on the one GPU, and simple_cnn.tuned.digits;
  5. OUT/gpu_check-summary.json and .md: each check, pass or fail, its figures, the date and the GPU name.

options:
  --out DIR        where results/, logs/ and the summary go (default: $OUT if set, else ./gpu-check)
  --skip-install   use the python3 on PATH (or $PYTHON) as it is: no venv, no pip
  --dry-run        print the plan and write a summary with every check "not run"; needs no GPU
  --help           this text

Exit status: 0 every check passed (or --dry-run), 1 a check failed, 2 bad arguments.
EOF
}

out="${OUT:-./gpu-check}"
skip_install=0
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out)
      [ $# -ge 2 ] && [ -n "$2" ] || { echo "gpu_check.sh: --out needs a folder" >&2; exit 2; }
      out="$2"
      shift 2
      ;;
    --out=*) out="${1#--out=}"; shift ;;
    --skip-install) skip_install=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1'; valid: --out DIR, --skip-install, --dry-run, --help" >&2; exit 2 ;;
  esac
done

mkdir -p "$out/results" "$out/logs" 2>/dev/null || { echo "gpu_check.sh: can't create --out $out" >&2; exit 2; }
out=$(cd "$out" && pwd)  # absolute, before moving to the repository root
cd "$(dirname "$0")/.." || exit 2
export TF_CPP_MIN_LOG_LEVEL=2
started=$SECONDS
smoke=(simple_cnn.scratch.digits resnet50.scratch.digits mobilenet_v2.finetune.digits)

say() { echo "gpu_check: $*"; }

if [ "$dry_run" = 1 ]; then
  say "dry run; the plan, with results in $out/results:"
  say "  install: python3 -m venv .venv-gpu; pip install -e '.[dev,ray]'; tensorflow[and-cuda] if no GPU is seen"
  say "  suite run ${smoke[*]} --profile smoke --device gpu --results $out/results/gpu"
  say "  python benchmarks/gpu_check.py throughput --arch resnet50 --batch 32   (GPU, then CUDA_VISIBLE_DEVICES='')"
  say "  suite run simple_cnn.scratch.digits --profile smoke --device gpu --strategy mirrored --results $out/results/mirrored"
  say "  suite run simple_cnn.tuned.digits --profile smoke --device gpu --results $out/results/tuned"
  say "  python benchmarks/gpu_check.py summarize --out $out"
  python3 benchmarks/gpu_check.py summarize --out "$out" --dry-run
  exit $?
fi

gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
say "GPU: ${gpu_name:-none found by nvidia-smi}"

sees_gpu() { "$python" -c 'import tensorflow as tf, sys; sys.exit(0 if tf.config.list_physical_devices("GPU") else 1)' \
  >>"$out/logs/install.log" 2>&1; }

if [ "$skip_install" = 1 ]; then
  python="${PYTHON:-python3}"
else
  say "installing into .venv-gpu (log: $out/logs/install.log)"
  {
    python3 -m venv .venv-gpu &&
      .venv-gpu/bin/python -m pip install --quiet --upgrade pip &&
      .venv-gpu/bin/python -m pip install --quiet -e ".[dev,ray]"
  } >>"$out/logs/install.log" 2>&1 || { tail -n 20 "$out/logs/install.log" >&2; say "install failed"; }
  python=.venv-gpu/bin/python
  if [ -x "$python" ] && ! sees_gpu; then
    version=$("$python" -c 'import tensorflow as tf; print(tf.__version__)' 2>/dev/null)
    say "TensorFlow ${version:-?} sees no GPU; installing tensorflow[and-cuda]${version:+==$version}"
    "$python" -m pip install --quiet "tensorflow[and-cuda]${version:+==$version}" >>"$out/logs/install.log" 2>&1 ||
      say "pip install tensorflow[and-cuda] failed; see $out/logs/install.log"
  fi
fi
sees_gpu || say "TensorFlow sees no GPU; the GPU runs below will fail and so will the check"
suite=("$python" -m suite.cli)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's suite, also for benchmarks/gpu_check.py

# Each step is bounded, and all of them by one deadline 8 minutes after the start (installs included), so the
# check ends in time; a step that fails, times out or gets no time leaves its folder without ok rows, and the
# summary says which check failed.
deadline=$((started + 470))
step() {
  local name=$1 limit=$2 left
  shift 2
  left=$((deadline - SECONDS))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -le 5 ]; then
    say "$name: not run, the 8-minute deadline has passed"
    return
  fi
  say "$name (at most ${limit}s, log: $out/logs/$name.log)"
  timeout "$limit" "$@" >"$out/logs/$name.log" 2>&1 || say "$name: exit $? (see $out/logs/$name.log)"
}
step smoke 240 "${suite[@]}" run "${smoke[@]}" --profile smoke --device gpu --results "$out/results/gpu"
step throughput-gpu 60 bash -c '"$0" benchmarks/gpu_check.py throughput > "$1"' "$python" "$out/results/throughput-gpu.json"
step throughput-cpu 60 env CUDA_VISIBLE_DEVICES= bash -c '"$0" benchmarks/gpu_check.py throughput > "$1"' \
  "$python" "$out/results/throughput-cpu.json"
step mirrored 60 "${suite[@]}" run simple_cnn.scratch.digits --profile smoke --device gpu --strategy mirrored \
  --results "$out/results/mirrored"
step tuned 90 "${suite[@]}" run simple_cnn.tuned.digits --profile smoke --device gpu --results "$out/results/tuned"

say "ran in $((SECONDS - started)) s"
python3 benchmarks/gpu_check.py summarize --out "$out" --gpu-name "$gpu_name"
