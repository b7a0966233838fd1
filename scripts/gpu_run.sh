#!/usr/bin/env bash
# The prepared GPU run: `sla gpu-check` for every backbone (phi4, voxtral, qwen2-audio) in one process, on a lent GPU
# machine whose image has torch but not this package's other needs (../shared/notes/gpu-device.md). Run from the
# project's root, with the wheels of scripts/device_wheels.sh (../shared/tools/device-wheels.sh's, and the few
# dependencies `sla score` adds) in .whl/ carried along:
#
#   bash scripts/gpu_run.sh            # on the GPU machine: install into .site/.site2, then the check, all bounded
#   bash scripts/gpu_run.sh --quick    # here, on CPU: the same check's --quick path with this venv, no install
#
# Writes under $OUT (default ./gpu-run-out): env.txt (device, driver, versions), install.log, gpu_check.json (every
# backbone; rewritten after each phase, so a run stopped by its timeout keeps what it measured), gpu_check.log.
# Bounds: the install 120 s, the check GPU_RUN_BUDGET_S (default 510 s) less the install's time, so the whole script
# ends inside 540 s. BACKBONES (default all) and GPU_CHECK_ARGS pass through to gpu-check.
set -uo pipefail

quick=0
[ "${1:-}" = "--quick" ] && quick=1
OUT=${OUT:-$PWD/gpu-run-out}
mkdir -p "$OUT"
budget=${GPU_RUN_BUDGET_S:-510}
started=$SECONDS

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "nvidia-smi: none"
} > "$OUT/env.txt"

if [ "$quick" = 1 ]; then
  python=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
  flags="--quick"
  : > "$OUT/install.log"
else
  python=${PYTHON:-python3}
  flags="--attn sdpa"
  if ! ls .whl/*.whl > /dev/null 2>&1; then
    echo "No wheels in .whl/: run 'bash scripts/device_wheels.sh .venv' here and carry .whl" |
      tee -a "$OUT/env.txt"
    exit 3
  fi
  if ! { timeout 90 "$python" -m pip install -q --no-index --no-deps --no-compile --target .site .whl/*.whl &&
         timeout 30 "$python" -m pip install -q --no-index --no-deps --no-build-isolation --target .site2 .; } \
       > "$OUT/install.log" 2>&1; then
    echo "The install failed after $((SECONDS - started)) s:"; tail -n 30 "$OUT/install.log"; exit 3
  fi
  export PYTHONPATH=$PWD/.site2:$PWD/.site
fi
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_NO_ADVISORY_WARNINGS=1
"$python" -c "import sys, torch, transformers; print(sys.version.split()[0], 'torch', torch.__version__,
  'cuda', torch.version.cuda, 'transformers', transformers.__version__)" >> "$OUT/env.txt" 2>&1
echo "install and environment: $((SECONDS - started)) s"

left=$((budget - (SECONDS - started)))
# shellcheck disable=SC2086  # the flags are words
timeout --signal=TERM --kill-after=10 "$left" "$python" -m sla_phi4 gpu-check --backbone "${BACKBONES:-all}" $flags \
  ${GPU_CHECK_ARGS:-} --output "$OUT/gpu_check.json" > "$OUT/gpu_check.log" 2>&1
status=$?
grep -v "rope_parameters\|^\[transformers\]" "$OUT/gpu_check.log" | tail -n 120
case $status in
  0) echo "gpu-check passed" ;;
  1) echo "gpu-check ran and reported failures (see the table and gpu_check.json)" ;;
  124|137) echo "gpu-check stopped at its ${left} s limit; gpu_check.json keeps the phases it finished" ;;
  *) echo "gpu-check exited with status $status" ;;
esac
echo "total $((SECONDS - started)) s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $status
