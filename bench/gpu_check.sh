#!/usr/bin/env bash
# The GPU checks of Table S4 in one script, for a CUDA machine (see bench/README.md, "On a CUDA machine"):
#   make gpu-wheels                          # beforehand, where pip can download: wheels the machine's Python lacks
#   OUT=gpu_out bash bench/gpu_check.sh      # on the CUDA machine, in a copy of the repository with .whl/
# It installs the wheels in .whl/ (if any), records the device, runs the CUDA tests (tests/test_gpu.py), then the
# Table S4 epoch bench eagerly and under torch.compile. Everything lands in $OUT (default build/gpu_check). Each part
# has its own time limit, so a hang in one still leaves the others' files.
set -uo pipefail
out=${OUT:-build/gpu_check}
py=${PYTHON:-python3}
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/atent_site \
    .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/atent_site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 MPLBACKEND=Agg

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi"
  "$py" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else '')"; } 2>&1 | tee "$out/device.txt"

timeout "${TEST_SECONDS:-240}" "$py" -m pytest -q -p no:cacheprovider -rs tests/test_gpu.py 2>&1 | tee "$out/test_gpu.log"
tests=${PIPESTATUS[0]}
# shellcheck disable=SC2086  # EPOCH_ARGS is a list of options
timeout "${BENCH_SECONDS:-180}" "$py" bench/bench_epoch_time.py --out "$out/epoch_time.json" ${EPOCH_ARGS:-} 2>&1 |
  tee "$out/epoch_time.log"
bench=${PIPESTATUS[0]}
# shellcheck disable=SC2086
timeout "${BENCH_SECONDS:-180}" "$py" bench/bench_epoch_time.py --compile --warmup 5 \
  --out "$out/epoch_time_compile.json" ${EPOCH_ARGS:-} 2>&1 | tee "$out/epoch_time_compile.log"
compiled=${PIPESTATUS[0]}
echo "exit codes: tests $tests, epoch bench $bench, compiled epoch bench $compiled" | tee "$out/summary.txt"
exit $(( tests || bench || compiled ))
