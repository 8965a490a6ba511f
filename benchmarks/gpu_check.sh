#!/usr/bin/env bash
# The GPU check in one run, on a machine with CUDA and the project's packages (the device
# machine's image has torch, pandas, pyarrow, matplotlib, tiktoken, pytest; snakemake and
# papermill travel as wheels). In order of value, each stage under its own time limit so that a
# slow one cannot take the others' time:
#   1. benchmarks/train_step.py on the default model: baseline, pipeline and the compiled steps
#      (the whole model as one graph, and a block at a time);
#   2. the whole default study (three seeds) from a clean results folder, with every stage's
#      benchmark file, the aggregated group means and the study's MFU
#      (benchmarks/study_mfu.py): as configured (`pipeline`), with config/fast.yaml
#      (`pipeline_fast`), and with config/fast.yaml and the three train jobs sharing the GPU
#      (`--resources gpu=3`), once with an empty compile cache and once with the cache the
#      first filled (`pipeline_shared`, `pipeline_shared_warm`);
#   3. benchmarks/train_rule.py with config/fast.yaml: the train rule from a cold process, with a
#      cold and then a warm torch.compile cache; `train_rule_blocks` the same with
#      runtime.compile_scope blocks, which the shared studies then use if it worked;
#   4. the precision tests on CUDA (bf16 against fp32, CUDA graphs captured);
#   5. benchmarks/startup.py: where a fresh train process's seconds go, phase by phase, and a
#      step's device time kernel by kernel: as configured (`startup_plain`); with
#      config/fast.yaml: compiled from cold, then warm
#      (`startup_cold`, `startup_warm`), warm with no inductor worker pool
#      (`startup_warm_1thread`), a block at a time (`startup_blocks_*`), without CUDA graphs
#      (`startup_nographs_*`); then the shared-GPU study with the startup runs' warm cache and no
#      worker pool (`pipeline_tuned`); what importing torch and its compiler costs (`imports`).
# STAGES picks some of them. Everything goes to $OUT (the device tool's folder) or
# benchmarks/gpu/.
#
#     [STAGES="train_rule train_rule_blocks"] [BYTECODE=/tmp/pyc] bash benchmarks/gpu_check.sh \
#         [path/to/829-0.txt]
set -uo pipefail
out=${OUT:-benchmarks/gpu}
corpus=${1:-../shared/corpus/829-0.txt}
stages=${STAGES:-train_step pipeline pipeline_fast train_rule train_rule_blocks pipeline_shared pipeline_shared_warm cuda_tests startup_plain startup_cold startup_warm startup_warm_1thread startup_blocks_cold startup_blocks_warm startup_nographs_cold startup_nographs_warm pipeline_tuned imports}
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

# The lent machine's image keeps no bytecode of torch's modules (the cProfile of startup.py
# found 2.8 s of a 4.6 s phase in compiling Python source), so every fresh process compiles it
# again, which a normal installation does once. BYTECODE=DIR compiles every installed module
# once into DIR first (PYTHONPYCACHEPREFIX), so that start-up figures measure a normal install.
if [[ -n ${BYTECODE:-} ]]; then
    export PYTHONPYCACHEPREFIX=$BYTECODE
    site=$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
    echo "== bytecode of $site ${PYTHONPATH//:/ } into $BYTECODE"
    python3 -m compileall -q -j 0 "$site" ${PYTHONPATH//:/ } >/dev/null
fi
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
    for f in results/"$1"/benchmarks/*.tsv results/"$1"/runs/*/*/*/benchmarks/*.tsv; do
        printf '%s\t%s\n' "$f" "$(tail -n 1 "$f")"
    done >"$out/$1_benchmarks.tsv"
    python3 benchmarks/study_mfu.py "results/$1" >"$out/$1_mfu.txt" 2>&1
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

# Start-up profiles, each in a fresh process, on the data of a study of their own. Every compile
# cache is a folder under results/startup/, emptied before its cold run.
overlays=$(mktemp -d)
cache() { # cache NAME [KEY: VALUE...]: an overlay with its own compile cache (and runtime keys)
    printf 'runtime:\n  compile_cache: results/startup/cache-%s\n' "$1" >"$overlays/$1.yaml"
    for pair in "${@:2}"; do printf '  %s\n' "$pair" >>"$overlays/$1.yaml"; done
    echo "$overlays/$1.yaml"
}
model=$(cache model) blocks_cache=$(cache blocks "compile_scope: blocks")
nographs=$(cache nographs "compile_mode: default")
if [[ $stages == *startup* ]]; then
    rm -rf results/startup
    python3 -m snakemake --cores all --configfile config/offline.yaml "$overlay" \
        --config study=startup --until select_groups >"$out/startup_data.txt" 2>&1
fi
startup() { # startup NAME "CONFIG..." [ENV...]: benchmarks/startup.py, its output kept
    [[ " $stages " == *" $1 "* ]] || return 0
    stage "$1" 120 env "${@:3}" python3 benchmarks/startup.py --study startup \
        --configfile config/offline.yaml "$overlay" $2 2>&1 | tee "$out/$1.txt"
}
startup startup_plain "$model"
startup startup_cold "config/fast.yaml $model"
startup startup_warm "config/fast.yaml $model"
startup startup_warm_1thread "config/fast.yaml $model" TORCHINDUCTOR_COMPILE_THREADS=1
startup startup_blocks_cold "config/fast.yaml $blocks_cache" TORCHINDUCTOR_COMPILE_THREADS=1
startup startup_blocks_warm "config/fast.yaml $blocks_cache" TORCHINDUCTOR_COMPILE_THREADS=1
startup startup_nographs_cold "config/fast.yaml $nographs"
startup startup_nographs_warm "config/fast.yaml $nographs" TORCHINDUCTOR_COMPILE_THREADS=1
TORCHINDUCTOR_COMPILE_THREADS=1 study pipeline_tuned config/fast.yaml "$model" --resources gpu=3
stage imports 60 python3 -X importtime -c "import torch, torch._inductor.compile_fx" \
    2>"$out/importtime.txt"
sort -t'|' -k2 -n -r "$out/importtime.txt" | head -25
