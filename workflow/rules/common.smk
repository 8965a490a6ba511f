STUDY = Study.from_config(config)
OUT = f"results/{STUDY.name}"
DATA = f"{OUT}/data/{{corpus}}"  # one book (names.CORPORA): its text, tokens and counts
RUN = f"{OUT}/runs/{{variant}}/seed{{seed}}"  # one training run: a variant and a seed
TUNE = f"{OUT}/finetune/{{arm}}/seed{{seed}}"  # one fine-tuning run: an arm and a seed
COVERAGE = config["coverage"]  # the coverage study: books and tokenizers, no training
BOOK_KEYS = dict(zip(CORPORA, ("corpus", "finetune.corpus"))) | {
    name: f"coverage.books.{name}"
    for name, section in COVERAGE["books"].items()
    if section is not None  # null: left out
}  # each book's config section: the study's two, then the coverage study's
COVERAGE_TOKENIZERS = (GPT2, *COVERAGE["tokenizers"])  # GPT-2's: the tokenizer section
FINETUNE = STUDY.finetune["enabled"]
# What a GPU job (train, finetune: the rules that give `resources: **GPU_JOB`) asks for: the
# GPUs, and of a cluster 2 hours and 16 GB in the GPU partition that profiles/slurm's
# UNUSED_TOKENS_GPU_PARTITION names (and the model UNUSED_TOKENS_GPU_MODEL, if set). The local
# profile's GPU limit counts `gpu`; a local run ignores the rest.
GPU_JOB = {"gpu": config["runtime"]["gpus"], "runtime": 120, "mem_mb": 16000} | {
    resource: os.environ[variable]
    for resource, variable in (
        ("slurm_partition", "UNUSED_TOKENS_GPU_PARTITION"),
        ("gpu_model", "UNUSED_TOKENS_GPU_MODEL"),
    )
    if os.environ.get(variable)
}
# Whether the study uses the quick overlay (the CPU guard's stop then does not suggest it).
QUICK = any(
    Path(f).resolve() == Path(workflow.basedir, QUICK_OVERLAY).resolve()
    for f in workflow.overwrite_configfiles
)


def training_to_do(planned=None):
    """(what, steps, kind of step) of each training and fine-tuning run of the study whose
    output is not there yet, or, given the paths the jobs `planned` will write, whose output is
    among them (pipeline/plan.py)."""
    runtime, todo = config["runtime"], []
    to_do = (
        (lambda p: p in planned)
        if planned is not None
        else (lambda p: not os.path.exists(p))
    )
    for variant, seed in STUDY.runs():
        run = STUDY.run(variant, seed)
        if to_do(f"{RUN}/train/model.pt".format(variant=variant, seed=seed)):
            kind = step_kind(run.model, run.train.batch_size, runtime)
            todo.append(("training", run.train.steps, kind))
    for seed in STUDY.seeds if FINETUNE else ():
        run = STUDY.finetune_run(seed)
        for arm in ARMS:
            if to_do(f"{TUNE}/log.parquet".format(arm=arm, seed=seed)):
                kind = step_kind(run.model, run.train.batch_size, runtime)
                todo.append(("fine-tuning", run.train.steps, kind))
    return todo


def planned_outputs():
    """The paths the jobs of this run will write (Snakemake's plan, once it is made)."""
    return {str(path) for job in workflow.dag.needrun_jobs() for path in job.output}


def book(corpus):
    """The config section of a book: its title, sources, sha256 and stripping."""
    if corpus in CORPORA:
        return (
            config["corpus"] if corpus == "pretrain" else config["finetune"]["corpus"]
        )
    return COVERAGE["books"][corpus]


def pretrain(pattern):
    """A data rule's output `pattern` for the first book, the one every run trains on."""
    return pattern.format(corpus="pretrain")


LIBRARY = f"{OUT}/library/{{stage}}.sha256"  # one stage's helper modules (rule library)


def lib(stage):
    """The stamp of the helper modules the stage's script `stage` (and its notebook) imports:
    an input that changes when one of them does, so that editing one reruns the stage.
    """
    return LIBRARY.format(stage=stage)


def stage_modules(wildcards):
    """The helper modules of a stage's script and notebooks (unused_tokens/pipeline/modules.py)."""
    return helper_modules(
        *stage_sources(f"{workflow.basedir}/workflow", wildcards.stage)
    )


def run_params(wildcards):
    """The Run of a job's variant and seed, as its params: what the run computes."""
    return STUDY.run(wildcards.variant, wildcards.seed).as_params()


def untrained_params(wildcards):
    """run_params without the training settings, for the probes (see Run.as_params)."""
    return STUDY.run(wildcards.variant, wildcards.seed).as_params(untrained=True)


def makers(wildcards, input):
    """For each Parquet input of a job, the name of the rule that writes it (for the message
    when one is unreadable)."""
    return {
        path: each.name
        for path in input
        if path.endswith(".parquet")
        for each in workflow.rules
        if each.is_producer(path)
    }


def every_run(pattern):
    """`pattern` (a path with {variant} and {seed}) for every run of the study, in order."""
    return [
        pattern.format(variant=variant, seed=seed) for variant, seed in STUDY.runs()
    ]


def every_finetune(pattern):
    """`pattern` (a path with {arm} and {seed}) for every fine-tuning run, in order."""
    return [pattern.format(arm=arm, seed=seed) for arm in ARMS for seed in STUDY.seeds]


def finetune_params(wildcards):
    """The fine-tuning Run of a job's seed (the baseline's, with finetune.steps), as params."""
    return STUDY.finetune_run(wildcards.seed).as_params()


def instances(pattern):
    """`pattern` filled for every job of the study that has it: each book, each run (variant and
    seed), each fine-tuning run (arm and seed), each tokenizer of the coverage study (tiktoken:
    those with a .tiktoken file to download; GPT-2's files have their own rule)."""
    if "{corpus}" in pattern:
        books = CORPORA if FINETUNE else CORPORA[:1]  # the second book: for fine-tuning
        return [pattern.format(corpus=book) for book in books]
    if "{arm}" in pattern:
        return every_finetune(pattern)
    if "{tokenizer}" in pattern:
        return [pattern.format(tokenizer=name) for name in COVERAGE_TOKENIZERS]
    if "{tiktoken}" in pattern:
        return [pattern.format(tiktoken=name) for name in COVERAGE["tokenizers"]]
    return every_run(pattern)


def benchmark_files(wildcards):
    """Every job's benchmark file but the report's own and the library stamps' (milliseconds
    each), for the report's table of durations."""
    files = []
    optional = {
        "finetune.smk": FINETUNE,
        "coverage.smk": COVERAGE["enabled"],
    }  # where on
    for each in workflow.rules:
        wanted = optional.get(Path(str(each.snakefile)).name, True)
        if each.benchmark and each.name not in ("report", "library") and wanted:
            files += instances(strip_wildcard_constraints(each.benchmark))
    return list(dict.fromkeys(files))


REPORT_FIGURES = drawn(FINETUNE, len(STUDY.variants))


def figure(name):
    """A PNG figure of the report, also shown in `snakemake --report` with its caption."""
    return report(
        f"{OUT}/report/figures/{name}.png",
        caption=f"../report/{name}.rst",
        category=FIGURES[name],
    )


def coverage_inputs(wildcards):
    """Every book's downloaded text, in order, and the tokenizer's files."""
    texts = {
        "texts": [rules.download_corpus.output.text.format(corpus=c) for c in BOOK_KEYS]
    }
    if wildcards.tokenizer == GPT2:
        return texts | {
            "vocab_bpe": rules.download_tokenizer.output.vocab_bpe,
            "encoder_json": rules.download_tokenizer.output.encoder_json,
        }
    return texts | {
        "ranks": rules.download_tiktoken.output.ranks.format(
            tiktoken=wildcards.tokenizer
        )
    }


def coverage_tokenizer(wildcards):
    """What the coverage script loads the tokenizer with: its name and configured sha256s."""
    if wildcards.tokenizer == GPT2:
        keys = ("vocab_bpe_sha256", "encoder_json_sha256")
        return {"name": GPT2, **{k: config["tokenizer"][k] for k in keys}}
    return {
        "name": wildcards.tokenizer,
        "sha256": COVERAGE["tokenizers"][wildcards.tokenizer]["sha256"],
    }


def coverage_outputs():
    """Every tokenizer's coverage tables."""
    return [
        path.format(tokenizer=name)
        for name in COVERAGE_TOKENIZERS
        for path in rules.coverage.output
    ]
