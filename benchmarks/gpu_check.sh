#!/usr/bin/env bash
# The GPU check in one run, on a machine with CUDA and the project's packages (the device
# machine's image has torch, pandas, pyarrow, matplotlib, tiktoken, pytest; snakemake and
# papermill travel as wheels). In order of value, each stage under its own time limit so that a
# slow one cannot take the others' time:
#   1. benchmarks/train_step.py on the default model: baseline, pipeline and the compiled steps
#      (the whole model as one graph, and a block at a time);
#   2. the whole default study (three seeds) from a clean results folder, with every stage's
#      benchmark file and the aggregated group means: as configured (`pipeline`), with
#      config/fast.yaml (`pipeline_fast`), and with config/fast.yaml and the three train jobs
#      sharing the GPU (`--resources gpu=3`), once with an empty compile cache and once with the
#      cache the first filled (`pipeline_shared`, `pipeline_shared_warm`);
#   3. benchmarks/train_rule.py with config/fast.yaml: the train rule from a cold process, with a
#      cold and then a warm torch.compile cache; `train_rule_blocks` the same with
#      runtime.compile_scope blocks, which the shared studies then use if it worked;
#   4. the precision tests on CUDA (bf16 against fp32, CUDA graphs captured).
# STAGES picks some of them. Everything goes to $OUT (the device tool's folder) or
# benchmarks/gpu/.
#
#     [STAGES="train_rule train_rule_blocks"] bash benchmarks/gpu_check.sh [path/to/829-0.txt]
set -uo pipefail
out=${OUT:-benchmarks/gpu}
corpus=${1:-../shared/corpus/829-0.txt}
stages=${STAGES:-train_step pipeline pipeline_fast train_rule train_rule_blocks pipeline_shared pipeline_shared_warm cuda_tests}
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
    local status=$?
    echo "== $name: exit $status, $((SECONDS - started)) s"
    return $status
}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'

overlay=$(mktemp --suffix=.yaml)
printf 'corpus:\n  sources: [file:%s]\n' "$corpus" >"$overlay"
blocks=$(mktemp --suffix=.yaml)
printf 'runtime:\n  compile_scope: blocks\n' >"$blocks"

study() { # study NAME CONFIG...: the default study from a clean folder; its times and results
    rm -rf "results/$1"
    stage "$1" 240 python3 -m snakemake --cores all --configfile config/offline.yaml "$overlay" \
        "${@:2}" --config study="$1"
    [[ -d "results/$1" ]] || return 0
    for f in results/"$1"/benchmarks/*.tsv results/"$1"/runs/*/*/benchmarks/*.tsv; do
        printf '%s\t%s\n' "$f" "$(tail -n 1 "$f")"
    done >"$out/$1_benchmarks.tsv"
    tar czf "$out/$1.tgz" --exclude='*.pt' --exclude='*.ipynb' "results/$1"
}

stage train_step 170 python3 benchmarks/train_step.py --preset default --steps 50 \
    --out "$out/results.csv"
study pipeline
study pipeline_fast config/fast.yaml
stage train_rule 130 python3 benchmarks/train_rule.py --configfile config/offline.yaml \
    "$overlay" config/fast.yaml --out "$out/train_rule.csv"
scope=()
stage train_rule_blocks 130 python3 benchmarks/train_rule.py --configfile config/offline.yaml \
    "$overlay" config/fast.yaml "$blocks" --out "$out/train_rule.csv" && scope=("$blocks")
study pipeline_shared config/fast.yaml "${scope[@]}" --resources gpu=3
study pipeline_shared_warm config/fast.yaml "${scope[@]}" --resources gpu=3

stage cuda_tests 80 python3 -m pytest -q -p no:cacheprovider tests/test_precision.py -k cuda
