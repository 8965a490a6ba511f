#!/usr/bin/env bash
# The GPU check in one run, on a machine with CUDA and the project's packages (the device
# machine's image has torch, pandas, pyarrow, matplotlib, tiktoken, pytest; snakemake and
# papermill travel as wheels). In order of value, each stage under its own time limit so that a
# slow one cannot take the others' time:
#   1. benchmarks/train_step.py on the default model: baseline, pipeline and fast steps;
#   2. the whole default study (three seeds) from a clean results folder, with every stage's
#      benchmark file and the aggregated group means: as configured (`pipeline`) and with
#      config/fast.yaml (`pipeline_fast`);
#   3. benchmarks/train_rule.py with config/fast.yaml: the train rule from a cold process, with a
#      cold and then a warm torch.compile cache;
#   4. the precision tests on CUDA (bf16 against fp32, CUDA graphs captured).
# STAGES picks some of them. Everything goes to $OUT (the device tool's folder) or
# benchmarks/gpu/.
#
#     [STAGES="pipeline_fast train_rule"] bash benchmarks/gpu_check.sh [path/to/829-0.txt]
set -uo pipefail
out=${OUT:-benchmarks/gpu}
corpus=${1:-../shared/corpus/829-0.txt}
stages=${STAGES:-train_step pipeline pipeline_fast train_rule cuda_tests}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
# Packages installed with `pip --target DIR` (put on PYTHONPATH) keep nbconvert's templates in
# DIR/share/jupyter, where Jupyter does not look unless told.
for dir in ${PYTHONPATH//:/ }; do
    [[ -d $dir/share/jupyter ]] && export JUPYTER_PATH=$dir/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}
done

stage() { # stage NAME SECONDS COMMAND...: run COMMAND under a time limit, if STAGES has NAME
    local name=$1 limit=$2 started=$SECONDS
    shift 2
    [[ " $stages " == *" $name "* ]] || return 0
    echo "== $name (limit $limit s) at $(date +%T)"
    timeout "$limit" "$@"
    echo "== $name: exit $?, $((SECONDS - started)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'

overlay=$(mktemp --suffix=.yaml)
printf 'corpus:\n  sources: [file:%s]\n' "$corpus" >"$overlay"

study() { # study NAME CONFIG...: the default study from a clean folder; its times and results
    rm -rf "results/$1"
    stage "$1" 240 python3 -m snakemake --cores all --configfile config/offline.yaml "$overlay" \
        "${@:2}" --config study="$1" || return 0
    [[ -d "results/$1" ]] || return 0
    for f in results/"$1"/benchmarks/*.tsv results/"$1"/runs/*/*/benchmarks/*.tsv; do
        printf '%s\t%s\n' "$f" "$(tail -n 1 "$f")"
    done >"$out/$1_benchmarks.tsv"
    tar czf "$out/$1.tgz" --exclude='*.pt' --exclude='*.ipynb' "results/$1"
}

stage train_step 150 python3 benchmarks/train_step.py --preset default --steps 50 \
    --out "$out/results.csv"
study pipeline
study pipeline_fast config/fast.yaml
stage train_rule 130 python3 benchmarks/train_rule.py --configfile config/offline.yaml \
    "$overlay" config/fast.yaml --out "$out/train_rule.csv"

stage cuda_tests 80 python3 -m pytest -q -p no:cacheprovider tests/test_precision.py -k cuda
