#!/usr/bin/env bash
# Every wheel the GPU machine needs for scripts/gpu_run.sh, into .whl/ (carried along as `.whl`): those of
# ../shared/tools/device-wheels.sh (transformers, datasets, soundfile, ...), and the package's other dependencies that
# the machine's image lacks and `sla gpu-check`'s commands phase imports (`sla score`: silero-vad, crepes,
# fairlearn and its narwhals), at this venv's versions. Run from the project's root:
#
#   bash scripts/device_wheels.sh [.venv]
set -euo pipefail
venv=${1:-.venv}
bash ../shared/tools/device-wheels.sh "$venv"
pins=()
for name in silero-vad crepes fairlearn narwhals; do
  version=$("$venv/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')
  [ -n "$version" ] || { echo "$name is not installed in $venv" >&2; exit 1; }
  pins+=("$name==$version")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl "${pins[@]}"
ls .whl | wc -l
du -sh .whl
