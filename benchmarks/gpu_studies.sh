#!/usr/bin/env bash
# The studies that need a GPU, in one prepared run (issue 30; docs/speed.md "On a GPU"), in order
# of value, each under its own time limit and from a clean results folder:
#   1. experiments_default: config/experiments.yaml at the default size (27 runs: the baseline
#      and 8 variants, three seeds), GPU_JOBS train jobs side by side (`--resources gpu=N`),
#      each handing its run to a warm trainer (runtime.shared_process; SHARED=0 leaves it off,
#      and a stage that fails within a minute with it is run again without it);
#   2. tokenizers_medium: config/tokenizers.yaml with the medium model (GPT-2's, cl100k_base's
#      and mistral_v1's vocabularies, three seeds each) and the coverage study;
#   3. finetune_medium: config/finetune.yaml with the medium model and 300 fine-tuning steps,
#      so that "steps to the unigram level" has values.
# After each, in one archive $OUT/NAME.tgz (the device returns 8 files at most): Snakemake's
# output, every job's benchmark line, nvidia-smi's memory per process while it ran, the study's
# MFU (benchmarks/study_mfu.py), and its results without the model files, the notebooks and the
# per-token tables (a 33-run study's would pass the 16 MiB a file may have; the report has
# what they give).
#
#     [GPU_JOBS=6] [SHARED=0] [STAGES="tokenizers_medium"] bash benchmarks/gpu_studies.sh [path/to/corpus]
#     KEEP=1 STAGES=experiments_default bash benchmarks/gpu_studies.sh   # go on where a limit stopped it
# Each stage's limit in seconds: EXPERIMENTS_S (400), TOKENIZERS_S (150), FINETUNE_S (140).
#     DRY_RUN=1 bash benchmarks/gpu_studies.sh    # on any machine: each study's plan, no jobs
set -uo pipefail
out=${OUT:-benchmarks/gpu}
shelf=${1:-$([[ -d shared/corpus ]] && echo shared/corpus || echo ../shared/corpus)}
jobs=${GPU_JOBS:-6}
stages=${STAGES:-experiments_default tokenizers_medium finetune_medium}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

# The offline overlay reads the books from ../shared/corpus; on the device machine the shelf is
# shared/corpus in the repository (the default where it is there), or give its path.
books=$(mktemp --suffix=.yaml)
cat >"$books" <<BOOKS
corpus: {sources: [file:$shelf/829-0.txt]}
finetune: {corpus: {sources: [file:$shelf/11-0.txt]}}
coverage:
  books:
    pride_and_prejudice: {sources: [file:$shelf/1342-0.txt]}
    frankenstein: {sources: [file:$shelf/84-0.txt]}
    moby_dick: {sources: [file:$shelf/2701-0.txt]}
    sherlock_holmes: {sources: [file:$shelf/1661-0.txt]}
BOOKS
shared=$(mktemp --suffix=.yaml)
printf 'runtime: {shared_process: %s}\n' "$([[ ${SHARED:-1} == 0 ]] && echo false || echo true)" >"$shared"
own=$(mktemp --suffix=.yaml)
printf 'runtime: {shared_process: false}\n' >"$own"
tuning=$(mktemp --suffix=.yaml)
printf 'finetune: {steps: 300, report_steps: [25, 100, 300]}\n' >"$tuning"

study() { # study NAME SECONDS CONFIG...: one study from a clean folder, measured
    [[ " $stages " == *" $1 "* ]] || return 0
    local name=$1 limit=$2 started=$SECONDS
    if [[ -n ${DRY_RUN:-} ]]; then
        python3 -m snakemake -n --cores all --resources gpu="$jobs" \
            --configfile config/offline.yaml "${@:3}" "$books" --config study="$name" |
            awk '/^Job stats:/ { on = !done } on; /^total/ { if (on) done = 1; on = 0 }'
        return
    fi
    [[ -n ${KEEP:-} ]] || rm -rf "results/$name"
    rm -rf "${out:?}/$name"
    local out=$out/$name
    mkdir -p "$out"
    echo "== $name (limit $limit s) at $(date +%T)"
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader -lms 1000 \
        >"$out/${name}_memory.csv" 2>&1 &
    local watcher=$!
    timeout "$limit" python3 -m snakemake --cores all --resources gpu="$jobs" \
        --configfile config/offline.yaml "${@:3}" "$books" \
        --config study="$name" >"$out/$name.txt" 2>&1
    local code=$?
    if ((code != 0 && SECONDS - started < 60)) && [[ " ${*:3} " == *" $shared "* ]]; then
        echo "== $name: exit $code with the shared trainer; again without it"
        mv "$out/$name.txt" "$out/${name}_shared_failed.txt"
        timeout "$limit" python3 -m snakemake --cores all --resources gpu="$jobs" \
            --configfile config/offline.yaml "${@:3}" "$own" "$books" \
            --config study="$name" >"$out/$name.txt" 2>&1
        code=$?
    fi
    echo "== $name: exit $code, $((SECONDS - started)) s"
    kill "$watcher" 2>/dev/null
    if [[ -d "results/$name" ]]; then
        find "results/$name" -path '*/benchmarks/*.tsv' -exec sh -c \
            'printf "%s\t%s\n" "$1" "$(tail -n 1 "$1")"' _ {} \; >"$out/${name}_benchmarks.tsv"
        python3 benchmarks/study_mfu.py "results/$name" >"$out/${name}_mfu.txt" 2>&1
    fi
    tar czf "$out.tgz" --exclude='*.pt' --exclude='*.ipynb' --exclude=vocab_logprobs.parquet \
        --exclude=features.parquet \
        $([[ -d "results/$name" ]] && echo "results/$name") -C "${out%/*}" "$name"
    rm -rf "$out"
}

[[ -n ${DRY_RUN:-} ]] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
study experiments_default ${EXPERIMENTS_S:-400} config/experiments.yaml config/fast.yaml "$shared"
study tokenizers_medium ${TOKENIZERS_S:-150} config/medium.yaml config/tokenizers.yaml
study finetune_medium ${FINETUNE_S:-140} config/medium.yaml config/finetune.yaml "$tuning"
